#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing (scripts/setup.sh), then
#   1. cargo fmt --check, vendor/minijinja = the released crate + vendor/minijinja.patch
#      (scripts/vendor-minijinja.sh), the links of every Markdown file (scripts/check-links.py),
#      and cargo clippy -D warnings (native and wasm32),
#   2. native tests: CPU reference, f64 finite differences, naga shader validation, GPU ops on
#      whatever wgpu adapter exists (lavapipe in CI),
#   3. browser tests: the same test bodies in headless Chromium and headless Firefox with WebGPU
#      (wasm-pack test --headless --chrome --firefox), built as the page's threaded engine is
#      (feature `threads`, relaxed SIMD, shared memory: scripts/wasm-threads.sh): each test
#      binary runs in a dedicated worker and its CPU products on a pool of workers,
#   4. end-to-end: the scripts (scripts/serve.py's port and headers, build-web.sh's up-to-date
#      check), then the real pages, built for release, driven in headless Chromium by Playwright:
#      the engine check, then the training page (train, generate, download, check the download
#      with the release CLI, reload and resume), with WebGPU and without; the engine choice, the
#      loss chart and streamed generation; the training page in headless Firefox with WebGPU
#      through geckodriver.
# Any failure fails the run. A GPU test never skips: no adapter = failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

scripts/setup.sh
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"   # wasm-opt 132, wasm-bindgen, geckodriver
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-600}
# Vulkan's loader wants a runtime dir; without one it prints an error per device (harmless).
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
# A one-shot build gains nothing from incremental caches, which more than double target/'s size
# (about 12 GB over a day of edits); set CARGO_INCREMENTAL=1 to keep them while iterating.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

step() { printf '\n=== %s (target/: %s, disk free: %s)\n' "$*" \
  "$(du -sh target 2>/dev/null | cut -f1)" "$(df -h --output=avail . | tail -1 | tr -d ' ')"; }

step "format"
cargo fmt --check

step "vendored crates"
scripts/vendor-minijinja.sh --check

step "docs links"
python3 scripts/check-links.py

step "clippy (native, wasm32)"
cargo clippy --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown --all-targets -- -D warnings

step "native tests"
cargo test --all-targets

step "browser tests: headless Chromium and Firefox (WebGPU), the threaded engine"
source scripts/wasm-threads.sh
RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=target/wasm-test-threads \
RUSTFLAGS="-C target-feature=$WASM_THREADS_RELAXED $(wasm_threads_link_flags)" \
  wasm-pack test --headless --chrome --firefox \
    --chromedriver "$(command -v chromedriver)" --geckodriver "$(command -v geckodriver)" \
    -- --features threads -Z build-std=panic_abort,std

step "end-to-end: the real pages in headless Chromium (WebGPU and without) and Firefox"
node tests/e2e/scripts.mjs
scripts/build-web.sh
cargo build --release --bin svdtune
node tests/e2e/engine_check.mjs
node tests/e2e/engine_page.mjs
node tests/e2e/threads_page.mjs
node tests/e2e/train_page.mjs
node tests/e2e/faults_page.mjs
node tests/e2e/memory_page.mjs
node tests/e2e/stale_page.mjs
node tests/e2e/phases_page.mjs
node tests/e2e/template_page.mjs
node tests/e2e/hub_page.mjs
node tests/e2e/gguf_page.mjs
node tests/e2e/vocab_page.mjs
node tests/e2e/demo_page.mjs
node tests/e2e/firefox_page.mjs
node tests/e2e/gguf_llama.mjs

step "all tests passed"
