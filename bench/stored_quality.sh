#!/usr/bin/env bash
# Held-out loss and time of the stored-precision path against the f32 path on a real model: the
# same weights trained once as stored (bf16 safetensors; a Q4_1 GGUF's blocks) and once as f32
# (the bf16 checkpoint upcast exactly to f32; the GGUF's `import-gguf` folder), each for the
# quality table's budget (2 epochs of demo/persona.jsonl, batch 4 × 128, lr 1e-2, rank fraction
# 0.1, seed 0), then `svdtune eval` of each merged model on demo/persona-eval.jsonl.
#
#   bench/stored_quality.sh [F32_MODEL] [GGUF]   (defaults: web/demo/model, the demo's
#       SmolLM2-135M-Instruct, and ~/.cache/svdtune/SmolLM2-135M-Instruct.Q4_1.gguf, both from
#       scripts/demo.sh; the GGUF pair is skipped when the file is missing)
#
# Needs python3 with numpy (the bf16 → f32 upcast).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
F32=${1:-web/demo/model}
GGUF=${2:-$HOME/.cache/svdtune/SmolLM2-135M-Instruct.Q4_1.gguf}
CLI=${CARGO_TARGET_DIR:-$ROOT/target}/release/svdtune
cargo build --release --bin svdtune >&2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

python3 bench/to_bf16.py "$F32" "$WORK/bf16" >&2
python3 bench/bf16_to_f32.py "$WORK/bf16" "$WORK/bf16-as-f32" >&2

run() { # name model
  local start secs out loss
  start=$(date +%s)
  "$CLI" train --model "$2" --data demo/persona.jsonl --out "$WORK/$1" --epochs 2 \
    --batch-size 4 --seq-len 128 --lr 1e-2 --rank-fraction 0.1 --seed 0 --eval-split 0 \
    --eval-every 0 --backend cpu > "$WORK/$1.log" 2>&1
  secs=$(( $(date +%s) - start ))
  out=$("$CLI" eval --model "$WORK/$1" --data demo/persona-eval.jsonl --seq-len 512 --backend cpu)
  loss=$(echo "$out" | grep -oE 'mean loss [0-9.]+' | head -1 | cut -d' ' -f3)
  echo "$1: held-out loss $loss (train + merge $secs s, cpu)"
  echo "$loss" > "$WORK/$1.loss"
}
compare() { # stored f32
  python3 -c "import sys; a, b = float(open(sys.argv[2]).read()), float(open(sys.argv[1]).read()); \
print(f'{sys.argv[3]} against its f32 path: {100 * (b - a) / a:+.4f} %')" \
    "$WORK/$1.loss" "$WORK/$2.loss" "$1"
}
run bf16-as-f32 "$WORK/bf16-as-f32"
run bf16 "$WORK/bf16"
compare bf16 bf16-as-f32
if [ -f "$GGUF" ]; then
  "$CLI" import-gguf "$GGUF" --out "$WORK/q4_1-import" > /dev/null
  run q4_1-import "$WORK/q4_1-import"
  run q4_1-gguf "$GGUF"
  compare q4_1-gguf q4_1-import
else
  echo "$GGUF not found: the GGUF pair is skipped"
fi
