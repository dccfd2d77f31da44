// The matrix tiles of this GPU: which of the engine's two tile sizes (64×64, or 128×128 from some
// size on) its products run faster on. Measured once per GPU when WebGPU opens on a hardware
// adapter (a few seconds; the engine line says so while it runs), kept in the page's storage
// (localStorage) per adapter and handed back to the engine on later visits. A software adapter
// keeps the defaults: its timings say nothing about a GPU. `?measure-tiles` measures on any
// WebGPU adapter (and uses what is kept when there is something), `?measure-tiles=again`
// measures again, `?measure-tiles=small` measures with small products (a check that every step
// runs, on a software adapter).

// Bumped when the tile kernels change, so that older measurements are not used.
const KEY = 'svdtune.gpu-tiles.v1';

function kept() {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? '{}') ?? {};
  } catch {
    return {}; // storage disabled or unreadable: measure again
  }
}

function keep(adapter, entry) {
  try {
    localStorage.setItem(KEY, JSON.stringify({ ...kept(), [adapter]: entry }));
  } catch {
    // storage disabled or full: the measurement serves this visit only
  }
}

// `b`: the engine's backend info (worker.js `open`); `params`: the page's URL parameters;
// `request`: the engine's; `say(text)`: shows progress on the engine line. Resolves to
// {wide_tiles, measured: true, ms} or {wide_tiles, measured: false} (kept), or null when the
// defaults stay (the CPU engine, a software adapter, a failed measurement: `error` then).
export async function chooseTiles(b, params, request, say) {
  if (!b.gpu) return null;
  const asked = params.get('measure-tiles');
  if (b.engine?.software && asked === null) return null;
  const adapter = b.engine?.adapter ?? b.name;
  const entry = kept()[adapter];
  if (entry && Number.isInteger(entry.wide_tiles) && asked !== 'again' && asked !== 'small') {
    await request('setTiles', { wideTiles: entry.wide_tiles });
    return { wide_tiles: entry.wide_tiles, measured: false };
  }
  say(`WebGPU: ${adapter}. Measuring its matrix tiles (once for this GPU, a few seconds)…`);
  try {
    const m = await request('measureTiles', { small: asked === 'small' });
    keep(adapter, { wide_tiles: m.wide_tiles, ms: Math.round(m.ms), at: new Date().toISOString() });
    return { wide_tiles: m.wide_tiles, measured: true, ms: m.ms };
  } catch (e) {
    return { error: e.message };
  }
}

// The tiles in words, for the engine line ('' when the defaults stayed without a word).
export function tilesText(t) {
  if (!t) return '';
  if (t.error) return ` Matrix tiles: the defaults (measuring them failed: ${t.error}).`;
  const size = t.wide_tiles > 0 ? `128×128 from ${t.wide_tiles} rows and columns, 64×64 below` : '64×64';
  const how = t.measured ? `measured on this GPU in ${(t.ms / 1000).toFixed(1)} s` : 'as measured on an earlier visit';
  return ` Matrix tiles: ${size} (${how}).`;
}
