#!/usr/bin/env bash
# Held-out loss of f32 and f16 factors (`--factor-dtype`): trains MODEL on demo/persona.jsonl for
# the quality table's budget (2 epochs, batch 4 × 128, lr 1e-2, rank fraction 0.1, seed 0) once
# with each factor dtype, then prints `svdtune eval` of each merged model on
# demo/persona-eval.jsonl and the relative difference.
#
#   bench/factor_dtype.sh [MODEL] [--backend cpu|gpu]   (MODEL: default web/demo/model, the demo's
#                                                       SmolLM2-135M-Instruct from scripts/demo.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MODEL=${1:-web/demo/model}
BACKEND=cpu
[ "${2:-}" = "--backend" ] && BACKEND=$3
CLI=${CARGO_TARGET_DIR:-$ROOT/target}/release/svdtune
cargo build --release --bin svdtune
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
declare -A LOSS
for dtype in f32 f16; do
  start=$(date +%s)
  "$CLI" train --model "$MODEL" --data demo/persona.jsonl --out "$WORK/$dtype" --epochs 2 \
    --batch-size 4 --seq-len 128 --lr 1e-2 --rank-fraction 0.1 --seed 0 --eval-split 0 \
    --eval-every 0 --factor-dtype "$dtype" --backend "$BACKEND" > "$WORK/$dtype.log" 2>&1
  secs=$(( $(date +%s) - start ))
  out=$("$CLI" eval --model "$WORK/$dtype" --data demo/persona-eval.jsonl --seq-len 512 \
    --backend "$BACKEND")
  LOSS[$dtype]=$(echo "$out" | grep -oE 'mean loss [0-9.]+' | head -1 | cut -d' ' -f3)
  echo "$dtype factors: held-out loss ${LOSS[$dtype]} (train + merge $secs s, $BACKEND)"
done
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); \
print(f'f16 against f32: {100 * (b - a) / a:+.3f} %')" "${LOSS[f32]}" "${LOSS[f16]}"
