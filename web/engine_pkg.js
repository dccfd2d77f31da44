// Which build of the wasm engine a worker loads, and its thread pool. Where the page is
// cross-origin isolated (COOP + COEP headers: scripts/serve.py; docs/page.md) the threaded build
// (web/pkg: shared memory, the CPU engine's splits on a pool of Web Workers, wasm-bindgen-rayon);
// elsewhere SharedArrayBuffer is missing and the single-threaded build (web/pkg/single) runs.
// All are compiled for simd128; the threaded one also for relaxed SIMD (fused multiply-adds in
// the matrix product), which a browser without it (Safari) cannot even compile, so there it gets
// the threaded build without (web/pkg/simd), as it does with `?simd=plain`. The pool's size: `?threads=N` in the worker's address (the page
// passes its own, threadsFromAddress in engine_ui.js), else navigator.hardwareConcurrency; it is
// fixed for the worker's life (a new size needs a new worker: the page reloads).

// The most pool threads asked for by `?threads=` (more only adds workers that wait).
export const MAX_THREADS = 64;

// The thread count asked for in `search` (a location's query string), or null when none or not a
// whole number from 1 to MAX_THREADS.
export function threadsAsked(search) {
  const v = new URLSearchParams(search).get('threads');
  if (v === null || !/^\d+$/.test(v)) return null;
  const n = Number(v);
  return n >= 1 && n <= MAX_THREADS ? n : null;
}

// A module of one function using f32x4.relaxed_madd: it validates where relaxed SIMD exists.
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11]);

// Whether this browser compiles relaxed SIMD.
export function hasRelaxedSimd() {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}

// Loads and initialises the engine: resolves to {pkg (the module's exports), threads: {threaded,
// threads, relaxed (the build has relaxed SIMD), isolated, asked, plainAsked (?simd=plain)}}. `threads` counts the pool's threads (1: the engine's own thread).
export async function loadEngine(search = self.location.search) {
  const isolated = self.crossOriginIsolated === true;
  const asked = threadsAsked(search);
  const want = asked ?? Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_THREADS));
  const plainAsked = new URLSearchParams(search).get('simd') === 'plain';
  const relaxed = isolated && !plainAsked && hasRelaxedSimd();
  let pkg;
  if (relaxed) pkg = await import('./pkg/svdtune.js');
  else if (isolated) pkg = await import('./pkg/simd/svdtune.js');
  else pkg = await import('./pkg/single/svdtune.js');
  await pkg.default();
  // One thread: no pool (rayon then runs every split on the engine's own thread).
  if (isolated && want > 1) await pkg.initThreadPool(want);
  return { pkg, threads: { ...pkg.engineThreads(), isolated, asked, plainAsked } };
}
