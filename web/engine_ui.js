// The page's engine line and the Engine setting. The worker picks the engine from the browser's
// adapter (adapter.js): on 'auto', a hardware GPU gets WebGPU and a software WebGPU (SwiftShader,
// llvmpipe, WARP, a fallback adapter) the CPU engine, which is about 20× faster than one. `?gpu`
// forces WebGPU, `?cpu` the CPU engine; the select (#engine-choice) changes the mode in place
// (the page reopens the engine and loads the model and data again; engine_switch.js) and writes
// it into the address, so a reload keeps it. The line says which engine runs, on which adapter,
// and why; its data-state is 'gpu', 'software' (CPU engine: the adapter is software), 'chosen'
// (CPU engine by ?cpu or the setting) or 'no-gpu' (CPU engine: WebGPU is not available).
// On the CPU engine the line also says how many threads it runs on (engine_pkg.js): one where
// the page is not cross-origin isolated, and why. The Threads setting (#threads-choice) writes
// `?threads=N` into the address and reloads the page: a pool's size is fixed for a worker's life.

// The mode asked for in the address: 'gpu' (?gpu), 'cpu' (?cpu) or 'auto'.
export function modeFromAddress(params) {
  if (params.has('cpu')) return 'cpu';
  if (params.has('gpu')) return 'gpu';
  return 'auto';
}

// Writes `mode` into the address (?gpu, ?cpu or neither), keeping the other parameters.
export function writeModeToAddress(mode) {
  const url = new URL(location.href);
  url.searchParams.delete('cpu');
  url.searchParams.delete('gpu');
  if (mode !== 'auto') url.searchParams.set(mode, '');
  history.replaceState(null, '', url.toString().replace(/([?&](?:cpu|gpu))=(?=&|$)/, '$1'));
}

// {text, kind, state} of the engine line for the backend `b` the worker opened (its `engine`:
// {mode, adapter, software}); `by`: what chose the mode ('?gpu', 'the Engine setting', …);
// `bytesText(n)` formats a memory budget.
export function describeEngine(b, by, bytesText) {
  const line = describeBackend(b, by, bytesText);
  if (!b.gpu) line.text += threadsText(b.threads);
  return line;
}

// The CPU engine's threads (the worker's `threads`: {threaded, threads, relaxed, isolated,
// plainAsked}) in words; the threaded build without relaxed SIMD says so.
export function threadsText(t) {
  if (!t) return '';
  if (!t.isolated || !t.threaded) {
    return ' One thread: this page is not cross-origin isolated (its server sends no COOP/COEP headers), so the browser allows no threads.';
  }
  const count = t.threads > 1 ? ` ${t.threads} threads.` : ' One thread (the Threads setting).';
  if (t.relaxed !== false) return count;
  const why = t.plainAsked ? '?simd=plain' : 'this browser has no relaxed SIMD';
  return `${count} Matrix products without fused multiply-adds (${why}): about 15–20 % slower.`;
}

// The engine worker's query: the page's `threads=N` and `simd=plain` where its address has
// them (engine_pkg.js reads them), else ''.
export function engineQuery(params) {
  const q = new URLSearchParams();
  for (const k of ['threads', 'simd']) if (params.get(k) !== null) q.set(k, params.get(k));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

// The Threads setting: shows the pool's size the page asked for (or the browser's core count);
// a change writes `?threads=N` into the address and reloads the page.
export function setupThreadsSetting(input, params) {
  input.value = params.get('threads') ?? String(navigator.hardwareConcurrency || 1);
  input.addEventListener('change', () => {
    const n = Number(input.value);
    if (!Number.isInteger(n) || n < 1 || n > Number(input.max)) return;
    const url = new URL(location.href);
    url.searchParams.set('threads', String(n));
    location.assign(url.toString());
  });
}

function describeBackend(b, by, bytesText) {
  const { mode = 'auto', adapter = null, software = null } = b.engine ?? {};
  if (b.gpu) {
    const name = adapter ?? b.name;
    const budget = b.max_memory_bytes ? ` Memory budget: ${bytesText(b.max_memory_bytes)}.` : '';
    if (software) {
      return { text: `WebGPU: ${name}, a software renderer (${software}) chosen by ${by}: slower than the CPU engine.${budget}`, kind: 'notice', state: 'gpu' };
    }
    return { text: `WebGPU: ${name}.${budget}`, kind: 'ok', state: 'gpu' };
  }
  if (mode === 'cpu') return { text: `CPU engine: chosen by ${by}.`, kind: 'ok', state: 'chosen' };
  if (software && mode === 'auto') {
    return {
      text: `CPU engine: this browser's WebGPU is a software renderer (${adapter ? `${software}: ${adapter}` : software}), slower than the CPU engine. Choose WebGPU in the Engine setting to use it anyway.`,
      kind: 'ok', state: 'software',
    };
  }
  return { text: `CPU engine: WebGPU is not available (${b.gpu_error}); the CPU engine is much slower than a GPU.`, kind: 'notice', state: 'no-gpu' };
}
