#!/usr/bin/env bash
# Builds the wasm engine for the page: release, wasm-opt (binaryen 132 from node_modules), into web/pkg.
# Compiled with simd128 (.cargo/config.toml); wasm-opt reads the enabled features from the
# module's target_features section, so it needs no --enable-simd.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
wasm-pack build --release --target web --out-dir web/pkg --no-typescript --no-pack
ls -l web/pkg/*.wasm
