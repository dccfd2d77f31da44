#!/usr/bin/env bash
# Builds bench/wasm_gemm twice (simd128, and simd128 + relaxed-simd as the page's threaded build
# has it) and prints GFLOP/s of the engine's kernel beside matrixmultiply's in node's V8, then the
# native CPU backend's kernel (the gemm crate) on the same products, one thread each.
# Usage: bench/wasm_gemm/run.sh   (needs the wasm32 target; node 20 runs relaxed SIMD behind
# --experimental-wasm-relaxed-simd, later nodes by default)
set -euo pipefail
cd "$(dirname "$0")"
TD=../../target/wasm-gemm-bench
for features in +simd128 +simd128,+relaxed-simd; do
  RUSTFLAGS="-C target-feature=$features" cargo build --release --target wasm32-unknown-unknown \
    --target-dir "$TD/$features" --quiet
  echo "target features $features:"
  node --experimental-wasm-relaxed-simd bench.mjs "$TD/$features/wasm32-unknown-unknown/release/wasm_gemm_bench.wasm" 2>/dev/null \
    || node bench.mjs "$TD/$features/wasm32-unknown-unknown/release/wasm_gemm_bench.wasm"
done
cargo run --release --bin native --target-dir "$TD/native" --quiet
