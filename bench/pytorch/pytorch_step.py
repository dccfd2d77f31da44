"""PyTorch reference timings for svdtune's training step, on the same work: SmolLM2-135M-Instruct
(or any llama-family folder), rank fraction 0.1, batch 4 × 128 tokens, AdamW (lr 1e-2, β 0.9/0.999,
no weight decay, gradient clipping to norm 1), f32, every CPU thread (or `--device cuda`).

Parts, each run in its own process so that its peak RSS is its own:
  svd-training   the reference library `svd-training` 0.0.2 applied as its README shows
                 (`SVDForCausalLM.create_from_model`): W' + U diag(Σ) Vᵀ recomputed densely per
                 forward; Σ, the RMSNorm weights and the token embedding trainable.
  svd-training-frozen-embedding
                 the same with the token embedding frozen (svdtune's trainable set; not run unless
                 named in --methods).
  factored       bench/pytorch/factored.py: y = x W'ᵀ + ((x V) ⊙ Σ) Uᵀ with W', U, V frozen buffers and
                 only Σ and the RMSNorm weights trainable: what svdtune's engine computes (forward,
                 input-gradient backward, dΣ).
  decompose      torch.svd_lowrank(W, q, niter=2), q = floor(min(m, n) · 0.1), over every planned
                 layer (211 for SmolLM2), total seconds, minimum of --decompose-repeats runs.
  gemm           sgemm GFLOP/s of torch.matmul on square 1024 / 2048 and on the model's shapes at
                 T = batch × seq_len rows.
A step is zero_grad, forward with the loss (transformers' causal-LM loss over the trained tokens),
backward, clipping, AdamW; 2 warm-up steps, then the median of --steps. Tokens/s counts
batch × seq_len positions per step, as `svdtune train` does. Inputs: the demo chat data
(demo/persona.jsonl) encoded with the model's template and assistant-only labels, each example
cut / right-padded to seq_len (causal attention, so padding after a sequence does not change it),
or `--data random` for seeded random token ids with every token trained.

Usage:
  python bench/pytorch/pytorch_step.py --model MODEL_DIR [--steps 10] [--device cpu|cuda] [--threads N]
      [--methods svd-training,factored] [--no-decompose] [--no-gemm] [--json OUT.json]
      [--data FILE|random] [--random-weights]
`--random-weights` builds the model from config.json with random weights (timings do not depend on
the values; for machines without the checkpoint).

Runtime: on a 2-core CPU busy with other work, `--steps 3` took 86 s for everything (model loads,
5 steps per method, 3 decompositions, sgemm); the default `--steps 10` adds about 30 s. On one
H100, `--steps 10` took 2 minutes, most of it process start and model setup. torch's default f32
matmul precision is kept (no TF32 on CUDA).
"""

import argparse
import json
import os
import resource
import statistics
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

METHODS = ("svd-training", "svd-training-frozen-embedding", "factored")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="Hugging Face model folder")
    p.add_argument("--data", default=str(HERE.parent.parent / "demo/persona.jsonl"),
                   help="chat JSON Lines file, or 'random' for random token ids")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--steps", type=int, default=10, help="timed steps (after the warm-up)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--rank-fraction", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default="svd-training,factored",
                   help="comma-separated: " + ", ".join(METHODS))
    p.add_argument("--no-decompose", action="store_true")
    p.add_argument("--no-gemm", action="store_true")
    p.add_argument("--decompose-repeats", type=int, default=3)
    p.add_argument("--random-weights", action="store_true")
    p.add_argument("--json", help="write the figures to this file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def load_model(args):
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(args.seed)
    if args.random_weights:
        cfg = AutoConfig.from_pretrained(args.model)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    return model


def make_batches(args, vocab_size):
    """`warmup + steps` batches [B, L] of input ids and labels."""
    n = args.warmup + args.steps
    if args.data == "random":
        g = torch.Generator().manual_seed(args.seed)
        out = []
        for _ in range(n):
            ids = torch.randint(0, vocab_size, (args.batch_size, args.seq_len), generator=g)
            out.append({"input_ids": ids, "labels": ids.clone()})
        return out, "random token ids"
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model)
    examples = chat_data.encode_file(tok, args.data)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    all_b = chat_data.batches(examples, args.batch_size, args.seq_len, pad, pad_to_seq_len=True)
    all_b = [b for b in all_b if b["input_ids"].shape[0] == args.batch_size]
    return [all_b[i % len(all_b)] for i in range(n)], f"{args.data} ({len(examples)} examples)"


def time_method(args, method):
    model = load_model(args)
    t0 = time.perf_counter()
    if method == "factored":
        params = factored.factor_model(model, args.rank_fraction)
    else:
        model, params = factored.apply_svd_training(model, args.rank_fraction)
        if method == "svd-training-frozen-embedding":
            model.model.embed_tokens.weight.requires_grad_(False)
            params = [p for p in model.parameters() if p.requires_grad]
    prepare_s = time.perf_counter() - t0
    model.to(args.device)
    model.train()
    trainable = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    batches, source = make_batches(args, model.config.vocab_size)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for i, b in enumerate(batches):
        ids = b["input_ids"].to(args.device)
        labels = b["labels"].to(args.device)
        sync(args.device)
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sync(args.device)
        dt = time.perf_counter() - t
        losses.append(loss.item())
        if i >= args.warmup:
            times.append(dt)
    med = statistics.median(times)
    out = {
        "method": method,
        "trainable": trainable,
        "prepare_s": prepare_s,
        "step_s_median": med,
        "step_s_min": min(times),
        "step_s_all": times,
        "tokens_per_s": args.batch_size * args.seq_len / med,
        "losses": losses,
        "inputs": source,
        "peak_rss_mib": peak_rss_mib(),
    }
    if args.device == "cuda":
        out["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def time_decompose(args):
    model = load_model(args)
    layers = []
    for parent, attr, name in factored.planned_linears(model):
        w = getattr(parent, attr).weight.detach().clone().to(args.device)
        layers.append((name, w, factored.rank_for(w.shape[0], w.shape[1], args.rank_fraction)))
    del model
    runs = []
    for r in range(args.decompose_repeats):
        torch.manual_seed(args.seed + r)
        sync(args.device)
        t = time.perf_counter()
        for _, w, q in layers:
            torch.svd_lowrank(w, q=q, niter=2)
        sync(args.device)
        runs.append(time.perf_counter() - t)
    return {"layers": len(layers), "seconds_min": min(runs), "seconds_all": runs,
            "peak_rss_mib": peak_rss_mib()}


def gemm_shapes(args):
    t = args.batch_size * args.seq_len
    return [
        ("square 1024", 1024, 1024, 1024),
        ("square 2048", 2048, 2048, 2048),
        ("x·Wqᵀ / x·Woᵀ", t, 576, 576),
        ("x·Wkᵀ / x·Wvᵀ", t, 576, 192),
        ("x·Wgateᵀ / x·Wupᵀ", t, 576, 1536),
        ("h·Wdownᵀ", t, 1536, 576),
        ("x·Wlm_headᵀ", t, 576, 49152),
        ("x·V (q=57)", t, 576, 57),
        ("h·Uᵀ (q=57)", t, 57, 1536),
    ]


def time_gemm(args):
    out = []
    g = torch.Generator(device="cpu").manual_seed(args.seed)
    for label, m, k, n in gemm_shapes(args):
        a = torch.randn(m, k, generator=g).to(args.device)
        b = torch.randn(k, n, generator=g).to(args.device)
        for _ in range(3):
            torch.matmul(a, b)
        sync(args.device)
        times, start = [], time.perf_counter()
        while len(times) < 5 or (time.perf_counter() - start < 0.5 and len(times) < 1000):
            t = time.perf_counter()
            torch.matmul(a, b)
            sync(args.device)
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        out.append({"shape": label, "m": m, "k": k, "n": n, "ms": med * 1e3,
                    "gflops": 2.0 * m * k * n / med / 1e9})
    return out


def run_child(args):
    torch.set_num_threads(args.threads)
    if args.child == "decompose":
        res = time_decompose(args)
    elif args.child == "gemm":
        res = time_gemm(args)
    else:
        res = time_method(args, args.child)
    with open(args.child_out, "w") as f:
        json.dump(res, f)


def spawn(part, argv):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    try:
        cmd = [sys.executable, str(Path(__file__).resolve())] + argv + ["--child", part,
                                                                         "--child-out", path]
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        print(f"  {part}: done in {time.perf_counter() - t:.1f} s", flush=True)
        with open(path) as f:
            return json.load(f)
    finally:
        os.unlink(path)


def describe_device(args):
    if args.device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"cpu ({args.threads} of {os.cpu_count()} threads)"


def print_report(res):
    s = res["settings"]
    print(f"\ndevice: {res['device']}; torch {res['torch']}; {s['batch_size']} × {s['seq_len']} tokens, "
          f"rank fraction {s['rank_fraction']}, lr {s['lr']}, {s['steps']} timed steps after "
          f"{s['warmup']} warm-up")
    if res["methods"]:
        print(f"inputs: {res['methods'][0]['inputs']}\n")
        print(f"{'method':32} {'trainable':>12} {'prepare s':>10} {'step s (median)':>16} "
              f"{'tokens/s':>9} {'peak RSS MiB':>13}")
        for m in res["methods"]:
            extra = f"  (GPU {m['peak_cuda_mib']:.0f} MiB)" if "peak_cuda_mib" in m else ""
            print(f"{m['method']:32} {m['trainable']:>12,} {m['prepare_s']:>10.2f} "
                  f"{m['step_s_median']:>16.3f} {m['tokens_per_s']:>9.1f} "
                  f"{m['peak_rss_mib']:>13.0f}{extra}")
    if res.get("decompose"):
        d = res["decompose"]
        runs = ", ".join(f"{x:.2f}" for x in d["seconds_all"])
        print(f"\ndecomposition, torch.svd_lowrank(W, q, niter=2) over {d['layers']} layers: "
              f"{d['seconds_min']:.2f} s (min; runs {runs})")
    if res.get("gemm"):
        print(f"\n{'sgemm (torch.matmul)':24} {'M × K @ K × N':>22} {'ms':>9} {'GFLOP/s':>9}")
        for g in res["gemm"]:
            dims = f"{g['m']}×{g['k']} @ {g['k']}×{g['n']}"
            print(f"{g['shape']:24} {dims:>22} {g['ms']:>9.3f} {g['gflops']:>9.1f}")


def main():
    args = parse_args()
    if args.child:
        run_child(args)
        return
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in METHODS:
            sys.exit(f"unknown method {m!r} (known: {', '.join(METHODS)})")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no CUDA device")
    argv = [a for a in sys.argv[1:]]
    res = {
        "device": describe_device(args),
        "torch": torch.__version__,
        "settings": {k: getattr(args, k) for k in
                     ("model", "data", "batch_size", "seq_len", "rank_fraction", "lr", "steps",
                      "warmup", "threads", "seed", "random_weights")},
        "methods": [],
    }
    print(f"timing on {res['device']}", flush=True)
    for m in methods:
        res["methods"].append(spawn(m, argv))
    if not args.no_decompose:
        res["decompose"] = spawn("decompose", argv)
    if not args.no_gemm:
        res["gemm"] = spawn("gemm", argv)
    print_report(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
