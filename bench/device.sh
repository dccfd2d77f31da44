#!/usr/bin/env bash
# bench/device.sh: the GPU measurements of one machine in one run, printed as one table.
#
#   bench/device.sh            on a machine with a real GPU (about 6-9 minutes on an H100):
#                              release CLI, `cargo bench --bench kernels`, `svdtune bench` for
#                              SmolLM2-135M shapes (random weights from its config.json) at 4 × 128
#                              and 8 × 512 with the GPU tuning knobs swept, and PyTorch eager fp32
#                              (bench/pytorch/pytorch_step.py, the `factored` method) on the same GPU,
#                              and Qwen2.5-0.5B shapes in bf16 at 4 × 512 with bindings capped at
#                              128 MiB (the 152 k-row embedding in row blocks): step time and the
#                              GPU's peak bytes against the memory estimate
#   bench/device.sh --quick    small sizes (a 4-layer model with SmolLM2's op sequence, 4 × 32), the
#                              dev-profile CLI, PyTorch on the CPU when torch is installed: checks on
#                              lavapipe that the script works (a release build of every dependency
#                              takes far longer than the measurements on a 2-core machine)
#
# Environment: OUT (folder for the logs and JSON, default bench/results/device-<UTC time>),
# PROFILE (release or dev; default release, dev with --quick), KNOBS (the `--gpu-tuning` sets to
# sweep, separated by spaces; "default" is the defaults, with the tile size the CLI measured for
# the adapter on its first run), PYTHON (default python3), STEP_TIMEOUT
# (seconds allowed to one svdtune or PyTorch run, default 150). Every run is bounded by
# STEP_TIMEOUT, and a run that fails or times out is a row saying so, not the end of the script.
# Needs cargo with the dependencies already fetched (the device has no network) and, for the
# PyTorch column, torch (CUDA build on a GPU machine).
set -u
cd "$(dirname "$0")/.."
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
PY=${PYTHON:-python3}
STEP_TIMEOUT=${STEP_TIMEOUT:-150}
OUT=${OUT:-bench/results/device-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR"
start=$(date +%s)
log() { echo "[device.sh $(($(date +%s) - start)) s] $*" >&2; }

if [ $QUICK = 1 ]; then
    PROFILE=${PROFILE:-dev}
    SIZES="4x32"
    KNOBS=${KNOBS:-"default col_dot_rows=0,reduce_tensors=1 wide_tiles=1"}
    STEPS="--steps 2 --warmup 1"
    TORCH_DEVICE=cpu
    CONFIG=$OUT/config.json
    $PY - "$CONFIG" <<'EOF'
import json, sys
c = json.load(open("tests/fixtures/smollm2/config.json"))
c.update(hidden_size=64, intermediate_size=160, num_attention_heads=4, num_key_value_heads=2,
         head_dim=16, vocab_size=512, num_hidden_layers=4)
json.dump(c, open(sys.argv[1], "w"), indent=1)
EOF
else
    PROFILE=${PROFILE:-release}
    SIZES="4x128 8x512"
    KNOBS=${KNOBS:-"default unchecked_tiles=0 wide_tiles=0 wide_tiles=256 f16_tiles=1 subgroup_reduce=1 col_dot_rows=0 reduce_tensors=1"}
    STEPS="--steps 5 --warmup 2"
    TORCH_DEVICE=cuda
    CONFIG=tests/fixtures/smollm2/config.json
fi
MODEL_DIR=$OUT/model
mkdir -p "$MODEL_DIR"
cp "$CONFIG" "$MODEL_DIR/config.json"

if [ "$PROFILE" = release ]; then BIN=target/release/svdtune; else BIN=target/debug/svdtune; fi
log "building the $PROFILE CLI"
cargo build --profile "$PROFILE" --bin svdtune >"$OUT/build.log" 2>&1 || {
    tail -20 "$OUT/build.log"
    echo "device.sh: the build failed (log: $OUT/build.log)" >&2
    exit 1
}

log "kernel benchmark"
if [ $QUICK = 1 ]; then
    timeout "$STEP_TIMEOUT" cargo bench --profile dev --bench kernels -- --quick >"$OUT/kernels.txt" 2>"$OUT/kernels.err"
else
    timeout 240 cargo bench --bench kernels >"$OUT/kernels.txt" 2>"$OUT/kernels.err"
fi || echo "kernel benchmark failed or timed out (see $OUT/kernels.err)" >>"$OUT/kernels.txt"

for size in $SIZES; do
    b=${size%x*}
    s=${size#*x}
    for knob in $KNOBS; do
        tuning=$knob
        [ "$knob" = default ] && tuning=""
        name="svdtune-$size-$(echo "$knob" | tr ',=' '+-')"
        log "svdtune bench $size $knob"
        timeout "$STEP_TIMEOUT" "$BIN" bench --config "$CONFIG" --backend gpu --batch-size "$b" \
            --seq-len "$s" $STEPS --gpu-tuning "$tuning" --json "$OUT/$name.json" \
            >"$OUT/$name.txt" 2>&1 || echo "failed or timed out" >"$OUT/$name.failed"
    done
    log "PyTorch $size on $TORCH_DEVICE"
    if $PY -c 'import torch, transformers' 2>/dev/null; then
        timeout "$STEP_TIMEOUT" $PY bench/pytorch/pytorch_step.py --model "$MODEL_DIR" --random-weights \
            --data random --device "$TORCH_DEVICE" --batch-size "$b" --seq-len "$s" --steps 5 \
            --methods factored --no-decompose --no-gemm --json "$OUT/pytorch-$size.json" \
            >"$OUT/pytorch-$size.txt" 2>&1 || echo "failed or timed out" >"$OUT/pytorch-$size.failed"
    else
        echo "torch or transformers is not installed" >"$OUT/pytorch-$size.failed"
    fi
done

if [ $QUICK = 0 ]; then
    # A model of real shape with its 152 k-row bf16 embedding and head in row blocks, as on an
    # adapter binding 128 MiB: the step, and the backend's peak bytes against the estimate.
    log "svdtune bench Qwen2.5-0.5B shapes, bf16, 4x512, bindings of 128 MiB"
    timeout "$STEP_TIMEOUT" "$BIN" bench --config bench/configs/qwen2.5-0.5b.json --weights-dtype bf16 \
        --backend gpu --max-binding 134217728 --batch-size 4 --seq-len 512 --steps 2 --warmup 1 \
        --json "$OUT/qwen05-4x512.json" >"$OUT/qwen05-4x512.txt" 2>&1 ||
        echo "failed or timed out" >"$OUT/qwen05-4x512.failed"
fi

log "done; files in $OUT"
$PY - "$OUT" "$SIZES" "$KNOBS" <<'EOF'
import json, os, sys
out, sizes, knobs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()

def load(name):
    p = os.path.join(out, name + ".json")
    return json.load(open(p)) if os.path.exists(p) else None

def failed(name):
    p = os.path.join(out, name + ".failed")
    return open(p).read().strip() if os.path.exists(p) else "missing"

rows = []
backend = None
for size in sizes:
    torch = load(f"pytorch-{size}")
    t_ms = None
    if torch:
        m = [x for x in torch["methods"] if x["method"] == "factored"]
        t_ms = m[0]["step_s_median"] * 1e3 if m else None
    for knob in knobs:
        name = f"svdtune-{size}-" + knob.replace(",", "+").replace("=", "-")
        f = load(name)
        if not f:
            rows.append((size, knob, failed(name), "", "", "", ""))
            continue
        backend = f["backend"]
        ms = f["step_ms_median"]
        ratio = f"{t_ms / ms:.2f}×" if t_ms else "n/a"
        top = sorted(f.get("kernel_times") or [], key=lambda k: -k["ms"])[:3]
        total = sum(k["ms"] for k in f.get("kernel_times") or []) or 1
        shares = ", ".join(f"{k['kernel']} {100 * k['ms'] / total:.0f}%" for k in top) or "no timestamps"
        rows.append((size, knob, f"{ms:.1f}", f"{f['tokens_per_s']:.0f}",
                     str(f.get("dispatches_per_step_total")), ratio, shares))
    rows.append((size, "PyTorch eager fp32 (factored)",
                 f"{t_ms:.1f}" if t_ms else failed(f"pytorch-{size}"), "", "", "", ""))

q = load("qwen05-4x512")
if q:
    peak, est = q.get("gpu_peak_bytes") or 0, q["memory_estimate_bytes"]
    rows.append(("4x512", "Qwen2.5-0.5B bf16, bindings 128 MiB", f"{q['step_ms_median']:.1f}",
                 f"{q['tokens_per_s']:.0f}", str(q.get("dispatches_per_step_total")), "",
                 f"GPU peak {peak} B, estimate {est} B ({100 * (est - peak) / max(peak, 1):+.1f}%)"))
elif os.path.exists(os.path.join(out, "qwen05-4x512.failed")):
    rows.append(("4x512", "Qwen2.5-0.5B bf16, bindings 128 MiB", failed("qwen05-4x512"), "", "", "", ""))

print(f"\nGPU: {backend}")
head = ("B×S", "knobs", "step ms", "tokens/s", "dispatches", "PyTorch/svdtune", "GPU time, largest kernels")
w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
for r in [head] + rows:
    print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))

print("\nkernel benchmark (GPU lines of cargo bench --bench kernels):")
gpu = False
for line in open(os.path.join(out, "kernels.txt")):
    gpu = gpu or line.startswith("gpu backend")
    if gpu or "failed" in line:
        print("  " + line.rstrip())
EOF
