#!/usr/bin/env bash
# The GPU backend's own count of its buffer bytes for models of real shape, against the memory
# estimate, without a GPU that could run them: `svdtune bench --record-only` records every command
# and makes every buffer exactly as a real run does, but submits no kernel (allocation does not
# depend on the values), so it takes seconds to minutes per model on any adapter (lavapipe here).
#
# For each config of bench/configs (random bf16 weights, as the Hub's safetensors), at 1 × 512 and
# 4 × 512, activations stored and recomputed, f16 factors: the estimate of the training phase
# against the peak of the steps and what is held after them, and the estimate of the
# decomposition phase against the peak of the load and decomposition (`train` and the page check
# the larger of the two estimates). Under record-only the decomposition reads back zeros, so its
# orthonormalization takes the Householder path (a readback of each tall product) where a real
# run mostly takes CholeskyQR2: its peak here can differ from a real run's by a tall buffer.
# Needs ~2 × the bf16 weights in RAM (the random file in memory and the software GPU's
# buffers): about 17 GB for the 4 B model.
#
#   bench/record_only.sh [--q4k] [CONFIG.json ...]     (default: every bench/configs/*.json)
#
# With --q4k the weights are a GGUF file of the same shapes with every matrix in Q4_K (random
# blocks, written by bench/random_gguf.py: needs python with gguf and numpy), loaded as blocks.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin svdtune >&2
bin=target/release/svdtune
weights=bf16
if [ "${1:-}" = --q4k ]; then weights=Q4_K; shift; fi
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(bench/configs/*.json)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '| model | weights | batch × seq | recompute | training estimate (B) | steps peak (B) | peak / est. | held / est. | decomposition estimate (B) | load + decomposition peak (B) | peak / est. | time (s) |\n'
printf '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for cfg in "${configs[@]}"; do
  name=$(basename "$cfg" .json)
  if [ "$weights" = Q4_K ]; then
    python3 bench/random_gguf.py "$cfg" "$out/$name.gguf" Q4_K
    model=(--model "$out/$name.gguf")
  else
    model=(--config "$cfg" --weights-dtype bf16)
  fi
  for batch in 1 4; do
    for recompute in off on; do
      json="$out/$name-$batch-$recompute.json"
      start=$(date +%s)
      "$bin" bench "${model[@]}" --backend gpu --record-only \
        --batch-size "$batch" --seq-len 512 --steps 1 --warmup 0 --recompute "$recompute" \
        --json "$json" > "$out/log" 2>&1 || { echo "$name $batch×512 recompute $recompute failed:" >&2; tail -5 "$out/log" >&2; exit 1; }
      secs=$(( $(date +%s) - start ))
      python3 - "$json" "$name" "$weights" "$batch" "$recompute" "$secs" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))
name, weights, batch, recompute, secs = sys.argv[2:7]
est, dest = f["memory_estimate_training_bytes"], f["memory_estimate_decomposition_bytes"]
steps, dec = f["gpu_after_steps"], f["gpu_after_decomposition"]
print(f"| {name} | {weights} | {batch} × 512 | {recompute} | {est:,} | {steps['peak_bytes']:,} | "
      f"{steps['peak_bytes'] / est:.3f} | {steps['live_bytes'] / est:.3f} | {dest:,} | {dec['peak_bytes']:,} | "
      f"{dec['peak_bytes'] / dest:.3f} | {secs} |")
EOF
    done
  done
  rm -f "$out/$name.gguf"
done
