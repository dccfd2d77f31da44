// Checks of a downloaded merged model against its input, from the safetensors files alone: every
// decomposed weight differs from the original by an update of rank ≤ q (the trained Σ − Σ₀ times
// frozen U and V), and the frozen embedding is unchanged. F32 checkpoints only (the fixture's).
import { readFileSync } from 'node:fs';

// name → {shape, data: Float64Array} of an F32 safetensors file.
export function readSafetensors(path) {
  const buf = readFileSync(path);
  const len = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + len).toString('utf8'));
  const out = new Map();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (t.dtype !== 'F32') throw new Error(`${path}: ${name} is ${t.dtype}, only F32 is read here`);
    const [a, b] = t.data_offsets;
    const bytes = buf.subarray(8 + len + a, 8 + len + b);
    const f32 = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    out.set(name, { shape: t.shape, data: Float64Array.from(f32) });
  }
  return out;
}

// Numerical rank of a row-major [m, n] matrix: Gaussian elimination with full pivoting, counting
// pivots above `rtol` times the largest entry.
export function rank(data, m, n, rtol = 1e-4) {
  const a = Float64Array.from(data);
  let scale = 0;
  for (const v of a) scale = Math.max(scale, Math.abs(v));
  if (scale === 0) return 0;
  let r = 0;
  const rows = [...Array(m).keys()];
  const cols = [...Array(n).keys()];
  for (; r < Math.min(m, n); r++) {
    let best = 0, bi = -1, bj = -1;
    for (let i = r; i < m; i++) {
      for (let j = r; j < n; j++) {
        const v = Math.abs(a[rows[i] * n + cols[j]]);
        if (v > best) { best = v; bi = i; bj = j; }
      }
    }
    if (best <= rtol * scale) break;
    [rows[r], rows[bi]] = [rows[bi], rows[r]];
    [cols[r], cols[bj]] = [cols[bj], cols[r]];
    const p = a[rows[r] * n + cols[r]];
    for (let i = r + 1; i < m; i++) {
      const f = a[rows[i] * n + cols[r]] / p;
      if (f === 0) continue;
      for (let j = r; j < n; j++) a[rows[i] * n + cols[j]] -= f * a[rows[r] * n + cols[j]];
    }
  }
  return r;
}

// [{name, m, n, q, rank, changed}] for every 2-D weight of `original` except the embedding
// (`lm_head.weight` of a tied original is compared with the embedding), plus `embedUnchanged`.
export function compareMerged(originalPath, mergedPath, rankFraction) {
  const orig = readSafetensors(originalPath);
  const merged = readSafetensors(mergedPath);
  const EMBED = 'model.embed_tokens.weight';
  const layers = [];
  for (const [name, t] of merged) {
    if (t.shape.length !== 2 || name === EMBED) continue;
    const base = orig.get(name) ?? (name === 'lm_head.weight' ? orig.get(EMBED) : undefined);
    if (!base) throw new Error(`${name} is not in the original checkpoint`);
    const [m, n] = t.shape;
    const diff = t.data.map((v, i) => v - base.data[i]);
    const q = Math.max(1, Math.floor(Math.min(m, n) * rankFraction));
    layers.push({ name, m, n, q, rank: rank(diff, m, n), changed: diff.some((v) => v !== 0) });
  }
  const e0 = orig.get(EMBED).data;
  const e1 = merged.get(EMBED).data;
  return { layers, embedUnchanged: e0.length === e1.length && e0.every((v, i) => v === e1[i]) };
}
