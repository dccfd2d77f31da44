// GFLOP/s of the engine's kernel and matrixmultiply's on SmolLM2's products at 4 × 128 tokens
// (x·Wᵀ, g·W, the rank-q factors) and the decomposition's skinny products in this node's V8, and their largest difference.
// First the ceiling: the rate of f32x4 multiply-adds alone, without memory, on one thread.
// Usage: node bench.mjs MODULE.wasm (run.sh builds the modules).
import { readFileSync } from 'node:fs';

const { instance } = await WebAssembly.instantiate(readFileSync(process.argv[2]), {});
const e = instance.exports;
{
  // The ceiling: independent f32x4 multiply-adds with no loads (best of five).
  const reps = 50_000_000;
  let best = 0;
  for (let i = 0; i < 5; i += 1) {
    const t = performance.now();
    e.peak(reps, 0.5);
    best = Math.max(best, (reps * 12 * 8) / ((performance.now() - t) / 1000) / 1e9);
  }
  console.log(`  ceiling (independent f32x4 multiply-adds): ${best.toFixed(1)} GFLOP/s`);
}
// [m, k, n, A stored [k, m], B stored [n, k]]
const shapes = [
  [512, 576, 576, 0, 1], [512, 576, 1536, 0, 1], [512, 1536, 576, 0, 0], [576, 512, 1536, 1, 0], // x·Wᵀ, g·W, Aᵀ·B
  [512, 576, 58, 0, 0], [512, 58, 576, 0, 1], [128, 64, 128, 0, 1], // rank-q factors x·V, h·Uᵀ; one head
  [1536, 576, 66, 0, 0], [576, 1536, 66, 1, 0], [66, 1536, 66, 1, 0], // decomposition: W·Ω, Wᵀ·Q, a Gram
];
for (const [m, k, n, ta, tb] of shapes) {
  const [a, b, c1, c2] = [m * k, k * n, m * n, m * n].map((len) => e.alloc(len));
  let f = new Float32Array(e.memory.buffer);
  for (let i = 0; i < m * k; i += 1) f[a / 4 + i] = Math.sin(i * 0.37);
  for (let i = 0; i < k * n; i += 1) f[b / 4 + i] = Math.cos(i * 0.11);
  for (let i = 0; i < m * n; i += 1) f[c1 / 4 + i] = f[c2 / 4 + i] = 0.5;
  e.run(0, m, k, n, ta, tb, a, b, c1, 1.0, 1);
  e.run(1, m, k, n, ta, tb, a, b, c2, 1.0, 1);
  f = new Float32Array(e.memory.buffer);
  let diff = 0;
  for (let i = 0; i < m * n; i += 1) diff = Math.max(diff, Math.abs(f[c1 / 4 + i] - f[c2 / 4 + i]));
  // Against a sum in doubles, every 7th element of C (every row and column is reached).
  let err = 0;
  const at = (base, i, j, trans, rows, cols) => f[base / 4 + (trans ? j * rows + i : i * cols + j)];
  for (let e = 0; e < m * n; e += 7) {
    const [i, j] = [Math.floor(e / n), e % n];
    let sum = 0.5;
    for (let p = 0; p < k; p += 1) sum += at(a, i, p, ta, m, k) * (tb ? f[b / 4 + j * k + p] : f[b / 4 + p * n + j]);
    err = Math.max(err, Math.abs(f[c1 / 4 + e] - sum) / (1 + Math.abs(sum)));
  }
  const flops = 2 * m * k * n;
  const reps = Math.max(1, Math.round(2e9 / flops));
  const rate = (which) => {
    const t = performance.now();
    e.run(which, m, k, n, ta, tb, a, b, c1, 0.0, reps);
    return (flops * reps) / ((performance.now() - t) / 1000) / 1e9;
  };
  // Interleaved, best of three each: both kernels see the same load.
  const best = [[], []];
  for (let i = 0; i < 3; i += 1) for (const w of [0, 1]) best[w].push(rate(w));
  const [ours, theirs] = best.map((r) => Math.max(...r).toFixed(1));
  console.log(`  ${m}×${k}×${n}${ta ? ' Aᵀ' : ''}${tb ? ' Bᵀ' : ''}: engine ${ours} GFLOP/s, matrixmultiply ${theirs} GFLOP/s (max |Δ| ${diff.toExponential(1)}, engine against doubles ${err.toExponential(1)})`);
}
