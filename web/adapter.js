// Which engine the worker opens, decided in JS before `Session.open` (wgpu's WebGPU backend maps
// only the adapter's description, so a software adapter cannot be told apart in the engine).
// A software WebGPU (SwiftShader in Chromium, llvmpipe/lavapipe/softpipe in Firefox on Mesa,
// WARP or the Microsoft Basic Render Driver on Windows, any `isFallbackAdapter`) is a GPU emulated
// on the CPU and about 20× slower than the CPU engine, so the automatic choice takes the CPU
// engine for it: the same rule as the native one (src/backend/gpu/software.rs).
//
// Modes: 'auto' (a hardware adapter: WebGPU; a software one: the CPU engine), 'gpu' (WebGPU
// whatever the adapter, when there is one), 'cpu' (the CPU engine).

// Words (lower case) that software renderers put in their adapter strings, with the name shown.
const SOFTWARE = [
  ['swiftshader', 'SwiftShader'], ['llvmpipe', 'llvmpipe'], ['lavapipe', 'lavapipe'],
  ['softpipe', 'softpipe'], ['warp', 'WARP'], ['microsoft basic render', 'Microsoft Basic Render Driver'],
];

// `info`: a GPUAdapterInfo (or any {vendor, architecture, device, description}).
// The adapter's name: its non-empty vendor / architecture / device / description, in that order
// (null when all are empty, as Firefox reports them).
export function adapterName(info) {
  const parts = ['vendor', 'architecture', 'device', 'description'].map((k) => String(info?.[k] ?? '').trim()).filter(Boolean);
  return parts.length ? [...new Set(parts)].join(' / ') : null;
}

// The software renderer `info` names ('SwiftShader', 'llvmpipe', …), 'a fallback adapter' when
// it only says it is one (`isFallback`), or null for a hardware GPU.
export function softwareRenderer(info, isFallback = false) {
  const words = ['vendor', 'architecture', 'device', 'description']
    .map((k) => ` ${String(info?.[k] ?? '').toLowerCase().split(/[^a-z0-9]+/).join(' ')} `).join('|');
  const hit = SOFTWARE.find(([word]) => words.includes(` ${word} `));
  if (hit) return hit[1];
  return isFallback ? 'a fallback adapter' : null;
}

// Asks the browser for its WebGPU adapter; resolves to {adapter: name or null, software: renderer
// or null}. Never throws: no WebGPU, or a failing request, gives {adapter: null, software: null}.
export async function probeAdapter(gpu = globalThis.navigator?.gpu) {
  try {
    const adapter = await gpu?.requestAdapter();
    if (!adapter) return { adapter: null, software: null };
    const info = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {};
    const fallback = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter);
    return { adapter: adapterName(info), software: softwareRenderer(info, fallback) };
  } catch {
    return { adapter: null, software: null };
  }
}

// What to open for `mode`: {cpuOnly, adapter, software} (`software`: the renderer's name when the
// adapter is one; with 'auto' that is why the CPU engine was taken).
export async function chooseEngine(mode) {
  if (mode === 'cpu') return { cpuOnly: true, adapter: null, software: null };
  const probe = await probeAdapter();
  return { cpuOnly: mode !== 'gpu' && probe.software !== null, ...probe };
}
