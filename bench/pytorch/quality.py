"""Quality table of singular-value fine-tuning on the demo persona data against PyTorch baselines.

Rows (each with its trainable-parameter count and the learning rate its small sweep picked):
  base           the model as downloaded
  svdtune        `svdtune train` (Σ + RMSNorm weights, rank fraction 0.1), when --svdtune PATH is
                 given; loss from `svdtune eval` on the exported folder
  svd-training   the reference library `svd-training` 0.0.2 as published (rank fraction 0.1; Σ,
                 RMSNorm weights and the token embedding trainable)
  svd-training-frozen-embedding  the same with the embedding frozen (only when named in --methods)
  lora           PEFT LoRA r=8, alpha 16, no dropout, on q/k/v/o/gate/up/down
  full           full fine-tuning (every weight)
Every run trains on demo/persona.jsonl for the same budget (2 epochs, batch 4, seq 128 by
default) with the schedule and optimizer of `svdtune train`: AdamW β 0.9/0.999, eps 1e-8, no
weight decay, clipping to global norm 1, linear warm-up over round(5 % of the steps) from 0, then
cosine decay; a step with a non-finite loss or gradient norm is skipped. Batches are the same
groups of 4 consecutive examples; their order is shuffled per epoch from the seed (torch's
generator here, xoshiro in svdtune, so the order differs between the two tools). The held-out
loss is the mean cross-entropy over the assistant tokens of demo/persona-eval.jsonl (token t
scored on predicting t+1 with t+1's mask bit, averaged over all trained tokens of the file), the
number `svdtune eval` prints. PyTorch rows are evaluated in PyTorch with masks built by
bench/pytorch/chat_data.py; with --svdtune the script first requires those ids and masks to equal
`svdtune data --dump` token for token and the base model's loss to equal `svdtune eval`'s within
1e-3. The learning rate is picked by the lowest held-out loss (there is no separate validation
file; every method is picked the same way). The last column is the greedy answer to --prompt.

Usage:
  python bench/pytorch/quality.py --model MODEL_DIR [--svdtune target/release/svdtune]
      [--methods base,svdtune,svd-training,lora,full] [--epochs 2] [--steps N]
      [--lrs-svdtune 3e-3,1e-2,3e-2] [--lrs-svd-training ...] [--lrs-lora ...] [--lrs-full ...]
      [--json OUT.json] [--markdown OUT.md] [--workdir DIR]
`--steps N` caps every run at N optimizer steps (a quick check that everything runs).

Runtime: SmolLM2-135M-Instruct, 73 training conversations → 19 batches, 2 epochs = 38 steps per
run. One run per method on a 2-core CPU that was busy with other work (load average 4) took, with
evaluation and generation: svdtune 187 s, svd-training 148 s, LoRA 261 s, full fine-tuning 200 s
(843 s for the four and the base row). The default table (3 learning rates × 4 methods = 12 runs)
is therefore about 40 minutes on such a machine and less on an idle one; `--lrs-METHOD` with
fewer values, or `--epochs 1`, shortens it.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chat_data  # noqa: E402
import factored  # noqa: E402

ALL_METHODS = ("base", "svdtune", "svd-training", "svd-training-frozen-embedding", "lora", "full")
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
DEFAULT_LRS = {
    "svdtune": "3e-3,1e-2,3e-2",
    "svd-training": "3e-3,1e-2,3e-2",
    "svd-training-frozen-embedding": "3e-3,1e-2,3e-2",
    "lora": "3e-4,1e-3,3e-3",
    "full": "1e-5,3e-5,1e-4",
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--train", default=str(HERE.parent.parent / "demo/persona.jsonl"))
    p.add_argument("--eval", default=str(HERE.parent.parent / "demo/persona-eval.jsonl"))
    p.add_argument("--svdtune", help="path of the svdtune binary (adds the svdtune row)")
    p.add_argument("--svdtune-backend", default="cpu", choices=["auto", "cpu", "gpu"])
    p.add_argument("--methods", default="base,svdtune,svd-training,lora,full",
                   help="comma-separated: " + ", ".join(ALL_METHODS))
    for m, lrs in DEFAULT_LRS.items():
        p.add_argument(f"--lrs-{m}", default=lrs, help=f"learning rates tried (default {lrs})")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--steps", type=int, help="cap every run at this many optimizer steps")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--rank-fraction", type=float, default=0.1)
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lora-alpha", type=float, default=16)
    p.add_argument("--warmup-ratio", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--prompt", default="What is your name?")
    p.add_argument("--max-new-tokens", type=int, default=40)
    p.add_argument("--workdir", help="keep svdtune's exports here (default: a temporary folder)")
    p.add_argument("--json", help="write every run's figures here")
    p.add_argument("--markdown", help="write the table here")
    return p.parse_args()


# ---------------------------------------------------------------- svdtune CLI


def run_cli(args, *cli_args):
    cmd = [args.svdtune, *map(str, cli_args)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def cli_eval(args, model_dir):
    out = run_cli(args, "eval", "--model", model_dir, "--data", args.eval, "--seq-len",
                  args.seq_len, "--backend", args.svdtune_backend)
    m = re.search(r"mean loss ([0-9.eE+-]+|NaN|inf)", out)
    if not m:
        sys.exit(f"unexpected `svdtune eval` output: {out!r}")
    return float(m.group(1))


def cli_generate(args, model_dir):
    out = run_cli(args, "generate", "--model", model_dir, "--prompt", args.prompt,
                  "--max-new-tokens", args.max_new_tokens, "--backend", args.svdtune_backend)
    return out.strip()


def cli_trainable(args):
    out = run_cli(args, "inspect", args.model, "--rank-fraction", args.rank_fraction, "--json")
    totals = json.loads(out)["totals"]
    best = min(totals, key=lambda t: abs(t["rank_fraction"] - args.rank_fraction))
    return best["trainable"]


def check_encoding(args, path, examples):
    """The ids and masks of bench/pytorch/chat_data.py must equal `svdtune data --dump`."""
    with tempfile.TemporaryDirectory() as d:
        dump = os.path.join(d, "dump.jsonl")
        run_cli(args, "data", "--model", args.model, "--data", path, "--seq-len", 1 << 20,
                "--dump", dump)
        ref = chat_data.read_jsonl(dump)
    if len(ref) != len(examples):
        sys.exit(f"{path}: svdtune encodes {len(ref)} examples, bench/pytorch/chat_data.py {len(examples)}")
    for i, (a, b) in enumerate(zip(examples, ref)):
        if a["input_ids"] != b["input_ids"] or a["loss_mask"] != b["loss_mask"]:
            sys.exit(f"{path}: example {i} (line {b.get('line')}) differs from `svdtune data --dump`")
    print(f"  {path}: ids and masks equal `svdtune data --dump` ({len(ref)} examples)")


def svdtune_run(args, lr, workdir):
    out_dir = os.path.join(workdir, f"svdtune-lr{lr:g}")
    cmd = ["train", "--model", args.model, "--data", args.train, "--out", out_dir,
           "--epochs", args.epochs, "--batch-size", args.batch_size, "--seq-len", args.seq_len,
           "--lr", lr, "--rank-fraction", args.rank_fraction, "--seed", args.seed,
           "--warmup-ratio", args.warmup_ratio, "--eval-split", 0, "--eval-every", 0,
           "--backend", args.svdtune_backend, "--log", os.path.join(workdir, f"log-lr{lr:g}.jsonl")]
    if args.steps:
        cmd += ["--max-steps", args.steps]
    t = time.perf_counter()
    run_cli(args, *cmd)
    train_s = time.perf_counter() - t
    steps, last_loss, tps = 0, float("nan"), []
    with open(os.path.join(workdir, f"log-lr{lr:g}.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            if "loss" in rec:
                steps, last_loss = rec["step"], rec["loss"]
                tps.append(rec["tokens_per_s"])
    res = {"eval_loss": cli_eval(args, out_dir), "answer": cli_generate(args, out_dir),
           "train_command_s": train_s, "steps": steps, "last_train_loss": last_loss,
           "tokens_per_s_median": sorted(tps)[len(tps) // 2] if tps else None}
    res["run_s"] = time.perf_counter() - t
    return res


# ---------------------------------------------------------------- PyTorch


def eval_loss(model, examples, seq_len):
    """Mean CE over the trained tokens of all examples (as `svdtune eval`)."""
    model.eval()
    total, count = 0.0, 0.0
    with torch.no_grad():
        for ex in examples:
            ids = torch.tensor([ex["input_ids"][:seq_len]])
            mask = torch.tensor(ex["loss_mask"][:seq_len], dtype=torch.float64)
            logits = model(input_ids=ids).logits[0, :-1].double()
            ce = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")
            total += float((ce * mask[1:]).sum())
            count += float(mask[1:].sum())
    return total / count


def generate(model, tok, args):
    model.eval()
    ids = tok.apply_chat_template([{"role": "user", "content": args.prompt}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=args.max_new_tokens, do_sample=False)
    return tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def lr_at(step, peak, warmup, total):
    """svdtune's schedule: linear warm-up from 0, then cosine decay to 0."""
    if step < warmup:
        return peak * step / max(warmup, 1)
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def prepare(method, args):
    """A fresh model set up for `method`; returns (model, trainable parameters)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    if method in ("svd-training", "svd-training-frozen-embedding"):
        model, params = factored.apply_svd_training(model, args.rank_fraction)
        if method == "svd-training-frozen-embedding":
            model.model.embed_tokens.weight.requires_grad_(False)
            params = [p for p in model.parameters() if p.requires_grad]
    elif method == "lora":
        from peft import LoraConfig, get_peft_model

        cfg = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=0.0, bias="none",
                         target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
        model = get_peft_model(model, cfg)
        params = [p for p in model.parameters() if p.requires_grad]
    elif method == "full":
        params = list(model.parameters())  # the tied embedding / head appears once
    else:
        raise ValueError(method)
    return model, params


def torch_run(method, lr, args, train_batches, eval_examples, tok):
    t0 = time.perf_counter()
    model, params = prepare(method, args)
    trainable = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    total = len(train_batches) * args.epochs
    if args.steps:
        total = min(total, args.steps)
    warmup = math.floor(total * args.warmup_ratio + 0.5)
    gen = torch.Generator().manual_seed(args.seed)
    step, skipped, last_loss = 0, 0, float("nan")
    prepare_s = time.perf_counter() - t0
    model.train()
    while step < total:
        for bi in torch.randperm(len(train_batches), generator=gen).tolist():
            if step >= total:
                break
            b = train_batches[bi]
            for g in opt.param_groups:
                g["lr"] = lr_at(step, lr, warmup, total)
            opt.zero_grad(set_to_none=True)
            loss = model(input_ids=b["input_ids"], labels=b["labels"]).loss
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
            if torch.isfinite(loss) and torch.isfinite(norm):
                opt.step()
                last_loss = loss.item()
            else:
                skipped += 1
            step += 1
    loop_s = time.perf_counter() - t0 - prepare_s
    res = {"trainable": trainable, "steps": step, "skipped_steps": skipped,
           "last_train_loss": last_loss, "eval_loss": eval_loss(model, eval_examples, args.seq_len),
           "answer": generate(model, tok, args), "prepare_s": prepare_s, "loop_s": loop_s,
           "step_s": loop_s / max(step, 1)}
    res["run_s"] = time.perf_counter() - t0
    return res


# ---------------------------------------------------------------- table


def markdown(args, rows, base_loss):
    steps = max((r["steps"] for r in rows), default=0)
    lines = [
        f"Held-out loss on `{os.path.basename(args.eval)}` (assistant tokens, mean CE), after "
        f"{steps} steps (batch {args.batch_size}, seq {args.seq_len}) on "
        f"`{os.path.basename(args.train)}`; lr picked from the sweep by held-out loss.",
        "",
        "| method | trainable params | lr (tried) | held-out loss | time per run | "
        f"answer to \"{args.prompt}\" |",
        "|---|---:|---|---:|---:|---|",
    ]
    for r in rows:
        tried = ", ".join(f"{lr:g}" for lr in r["tried"]) if r["tried"] else "–"
        lr = f"**{r['lr']:g}** ({tried})" if r["lr"] is not None else "–"
        secs = f"{r['run_s']:.0f} s" if r["run_s"] else "–"
        ans = r["answer"].replace("\n", " ").replace("|", "\\|")
        lines.append(f"| {r['method']} | {r['trainable']:,} | {lr} | {r['eval_loss']:.4f} | "
                     f"{secs} | {ans} |")
    lines.append("")
    lines.append(f"Base model held-out loss: {base_loss:.4f}.")
    return "\n".join(lines)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in ALL_METHODS:
            sys.exit(f"unknown method {m!r} (known: {', '.join(ALL_METHODS)})")
    if "svdtune" in methods and not args.svdtune:
        print("no --svdtune PATH: the svdtune row is left out")
        methods.remove("svdtune")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(args.model)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    train_examples = chat_data.encode_file(tok, args.train)
    eval_examples = chat_data.encode_file(tok, args.eval)
    train_batches = chat_data.batches(train_examples, args.batch_size, args.seq_len, pad)
    print(f"train: {len(train_examples)} examples, {len(train_batches)} batches per epoch; "
          f"eval: {len(eval_examples)} examples, "
          f"{sum(sum(e['loss_mask'][1:args.seq_len]) for e in eval_examples)} trained tokens")

    base = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    base_loss = eval_loss(base, eval_examples, args.seq_len)
    base_answer = generate(base, tok, args)
    del base
    print(f"base: held-out loss {base_loss:.6f} (PyTorch)")
    report = {"settings": {k: v for k, v in vars(args).items()}, "base_loss_torch": base_loss,
              "runs": []}
    if args.svdtune:
        check_encoding(args, args.train, train_examples)
        check_encoding(args, args.eval, eval_examples)
        cli_base = cli_eval(args, args.model)
        report["base_loss_svdtune"] = cli_base
        print(f"base: held-out loss {cli_base:.6f} (svdtune eval); |Δ| = "
              f"{abs(cli_base - base_loss):.2e}")
        if abs(cli_base - base_loss) > 1e-3:
            sys.exit("PyTorch and svdtune disagree on the base model's loss by more than 1e-3")

    rows = []
    if "base" in methods:
        rows.append({"method": "base", "trainable": 0, "lr": None, "tried": [],
                     "eval_loss": base_loss, "answer": base_answer, "run_s": None, "steps": 0})
    workdir_ctx = None
    if "svdtune" in methods:
        if args.workdir:
            os.makedirs(args.workdir, exist_ok=True)
            workdir = args.workdir
        else:
            workdir_ctx = tempfile.TemporaryDirectory(prefix="svdtune-quality-")
            workdir = workdir_ctx.name
    for method in methods:
        if method == "base":
            continue
        lrs = [float(x) for x in getattr(args, "lrs_" + method.replace("-", "_")).split(",") if x]
        runs = []
        for lr in lrs:
            print(f"{method} lr {lr:g} …", flush=True)
            if method == "svdtune":
                res = svdtune_run(args, lr, workdir)
                res["trainable"] = cli_trainable(args)
            else:
                res = torch_run(method, lr, args, train_batches, eval_examples, tok)
            res.update({"method": method, "lr": lr})
            print(f"  held-out loss {res['eval_loss']:.4f} after {res['steps']} steps "
                  f"({res['run_s']:.0f} s); answer: {res['answer'][:80]!r}", flush=True)
            runs.append(res)
            report["runs"].append(res)
        finite = [r for r in runs if math.isfinite(r["eval_loss"])] or runs
        best = min(finite, key=lambda r: r["eval_loss"])
        rows.append({**best, "tried": lrs})
    if workdir_ctx:
        workdir_ctx.cleanup()

    table = markdown(args, rows, base_loss)
    report["table"] = rows
    report["total_s"] = time.perf_counter() - started
    print()
    print(table)
    print(f"\ntotal time {report['total_s']:.0f} s")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
