// Which build of the wasm engine a worker loads, and its thread pool. Where the page is
// cross-origin isolated (COOP + COEP headers: scripts/serve.py; docs/page.md) the threaded build
// (web/pkg: shared memory, the CPU engine's splits on a pool of Web Workers, wasm-bindgen-rayon);
// elsewhere SharedArrayBuffer is missing and the single-threaded build (web/pkg/single) runs.
// Both are compiled for simd128. The pool's size: `?threads=N` in the worker's address (the page
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

// Loads and initialises the engine: resolves to {pkg (the module's exports), threads: {threaded,
// threads, isolated, asked}}. `threads` counts the pool's threads (1: the engine's own thread).
export async function loadEngine(search = self.location.search) {
  const isolated = self.crossOriginIsolated === true;
  const asked = threadsAsked(search);
  const want = asked ?? Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_THREADS));
  const pkg = isolated ? await import('./pkg/svdtune.js') : await import('./pkg/single/svdtune.js');
  await pkg.default();
  // One thread: no pool (rayon then runs every split on the engine's own thread).
  if (isolated && want > 1) await pkg.initThreadPool(want);
  return { pkg, threads: { ...pkg.engineThreads(), isolated, asked } };
}
