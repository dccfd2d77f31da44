#!/usr/bin/env bash
# Builds the wasm engine for the page, three times: cargo (release, wasm32), wasm-bindgen (the
# pinned CLI, `--target web`) and wasm-opt -O (binaryen 132 from node_modules). These are the
# steps `wasm-pack build --release --target web` runs, without wasm-pack's update check (it asks
# crates.io for a newer wasm-pack on every run and, offline, printed "[WARN]: failed to get
# wasm-pack version"). wasm-opt reads the enabled features from the module's target_features
# section, so it needs no --enable-* flags.
#
# - web/pkg: the threaded build (feature `threads`: the CPU engine's splits on a pool of Web
#   Workers sharing the memory, wasm-bindgen-rayon) with relaxed SIMD (the matrix product's
#   fused multiply-add, src/backend/cpu/simd128.rs: Chromium 114+, current Firefox). simd128 +
#   relaxed-simd + atomics + bulk-memory, a std rebuilt with them, shared memory up to 4 GiB
#   (scripts/wasm-threads.sh). Its own target dir (target/wasm-relaxed) so the builds do not
#   rebuild each other's dependencies. Its memory is shared and imported.
# - web/pkg/simd: the same threaded build without relaxed SIMD (target/wasm-threads), for
#   browsers that have threads but not relaxed SIMD (Safari).
# - web/pkg/single: one thread, simd128 (.cargo/config.toml), for pages that are not
#   cross-origin isolated (no SharedArrayBuffer there, so no shared memory).
# web/engine_pkg.js picks between them.
#
# Skips everything when web/pkg is up to date: web/pkg/.inputs holds a hash of every input (this
# script, Cargo.toml, Cargo.lock, .cargo/config.toml, src/, shaders/, vendor/, the tools'
# versions); a changed input rebuilds. `--force` rebuilds anyway; `--check` only says (exit 0: up
# to date, 1: a build is due). SVDTUNE_ROOT replaces the repository root (for tests).
set -euo pipefail
ROOT=${SVDTUNE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
PKG=web/pkg
STAMP=$PKG/.inputs

# The hash of every input of the build (file names and contents, the tools' versions).
inputs_hash() {
  {
    local dirs=()
    for d in src shaders vendor; do [ -d "$d" ] && dirs+=("$d"); done
    for f in scripts/build-web.sh scripts/wasm-threads.sh Cargo.toml Cargo.lock .cargo/config.toml; do [ -f "$f" ] && echo "$f"; done
    [ ${#dirs[@]} -gt 0 ] && find "${dirs[@]}" -type f | LC_ALL=C sort
  } | while read -r f; do printf '%s %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$f"; done
  for tool in rustc wasm-bindgen wasm-opt; do echo "$tool $("$tool" --version 2>/dev/null || echo none)"; done
}

up_to_date() {
  [ -f "$PKG/svdtune_bg.wasm" ] && [ -f "$PKG/svdtune.js" ] && [ -f "$STAMP" ] \
    && [ -f "$PKG/simd/svdtune_bg.wasm" ] && [ -f "$PKG/simd/svdtune.js" ] \
    && [ -f "$PKG/single/svdtune_bg.wasm" ] && [ -f "$PKG/single/svdtune.js" ] \
    && [ "$(cat "$STAMP")" = "$(inputs_hash | sha256sum | cut -d' ' -f1)" ]
}

case "${1:-}" in
  --check) up_to_date; exit ;;
  --force) ;;
  '') if up_to_date; then echo "build-web: $PKG is up to date with its inputs"; exit 0; fi ;;
  *) echo "usage: scripts/build-web.sh [--check | --force]" >&2; exit 2 ;;
esac

hash=$(inputs_hash | sha256sum | cut -d' ' -f1)
rm -f "$STAMP"
# bindgen WASM OUT_DIR: the JS glue and the optimised module in OUT_DIR.
bindgen() {
  wasm-bindgen "$1" --out-dir "$2" --no-typescript --target web
  wasm-opt "$2/svdtune_bg.wasm" -o "$2/svdtune_bg.opt.wasm" -O
  mv "$2/svdtune_bg.opt.wasm" "$2/svdtune_bg.wasm"
}
# The threaded builds' target features and link flags (scripts/wasm-threads.sh). The link flags
# go to `cargo rustc` (this crate only, so changing them relinks without rebuilding the
# dependencies).
source scripts/wasm-threads.sh
# threaded FEATURES TARGET_DIR: one threaded build with the target features FEATURES.
threaded() {
  RUSTC_BOOTSTRAP=1 RUSTFLAGS="-C target-feature=$1" \
    cargo rustc --lib --release --target wasm32-unknown-unknown --features threads \
      -Z build-std=panic_abort,std --target-dir "$2" -- $(wasm_threads_link_flags)
}
threaded "$WASM_THREADS_RELAXED" target/wasm-relaxed
threaded "$WASM_THREADS_PLAIN" target/wasm-threads
cargo build --lib --release --target wasm32-unknown-unknown
bindgen target/wasm-relaxed/wasm32-unknown-unknown/release/svdtune.wasm "$PKG"
bindgen target/wasm-threads/wasm32-unknown-unknown/release/svdtune.wasm "$PKG/simd"
bindgen target/wasm32-unknown-unknown/release/svdtune.wasm "$PKG/single"
echo "$hash" > "$STAMP"
ls -l "$PKG"/*.wasm "$PKG"/simd/*.wasm "$PKG"/single/*.wasm
