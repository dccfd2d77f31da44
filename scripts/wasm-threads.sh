# Sourced by scripts/build-web.sh and scripts/test.sh: how a threaded wasm engine is built (the
# CPU engine's pool of Web Workers sharing one memory, wasm-bindgen-rayon).
# - Target features: atomics and bulk memory (shared memory), simd128, and relaxed SIMD for the
#   page's default build (WASM_THREADS_RELAXED) or not (WASM_THREADS_PLAIN). The std is rebuilt
#   with them (`-Z build-std`, the stable toolchain with RUSTC_BOOTSTRAP=1 and the rust-src
#   component scripts/setup.sh installs).
# - Link: a shared memory up to 4 GiB (rustc's default maximum for shared memory is 1 GiB),
#   imported (wasm-bindgen's JS creates it and hands it to every worker), and the thread-local-
#   storage symbols wasm-bindgen's threads transform looks for. wasm-ld no longer implies
#   --shared-memory from +atomics.
WASM_THREADS_RELAXED=+atomics,+bulk-memory,+simd128,+relaxed-simd
WASM_THREADS_PLAIN=+atomics,+bulk-memory,+simd128
WASM_THREADS_LINK="--shared-memory --import-memory --max-memory=4294967296 --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base"

# `-C link-arg=…` for each of WASM_THREADS_LINK.
wasm_threads_link_flags() {
  for a in $WASM_THREADS_LINK; do printf -- '-C link-arg=%s ' "$a"; done
}
