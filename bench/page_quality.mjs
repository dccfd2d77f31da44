// Held-out loss of models trained on the page (headless Chromium, its CPU engine: `?cpu`, the
// threaded wasm build of scripts/build-web.sh, served cross-origin isolated) against the same
// models trained by the native CLI: SmolLM2 in bf16 kept as stored and the same values upcast to
// f32, and a Q4_1 GGUF trained as blocks and its `import-gguf` folder. Each is trained for the
// quality table's budget (2 epochs of demo/persona.jsonl, batch 4 × 128, lr 1e-2, rank fraction
// 0.1, seed 0, no eval split) once on the page (the merged zip downloaded, in the source's
// precision) and once by `svdtune train --backend cpu`; then `svdtune eval` of each merged model on
// demo/persona-eval.jsonl. Printed per model: both held-out losses and times, and each stored
// model's loss against its f32 path's.
//
// A run at lr 1e-2 is sensitive to rounding: two correct engines (the page's wasm kernel and the
// native one sum in different orders) follow the same per-step losses for the first steps and then
// drift apart after a loss spike, so one seed's held-out losses can differ by a few per cent;
// `--seeds 0,1,2` trains every model once per seed and prints the means.
//
// Usage: node bench/page_quality.mjs [--model DIR] [--gguf FILE] [--threads N] [--seeds 0,1,2]
//          [--pairs bf16,gguf]
// Defaults: web/demo/model (the demo's SmolLM2-135M-Instruct, f32) and
// ~/.cache/svdtune/SmolLM2-135M-Instruct.Q4_1.gguf (both from scripts/demo.sh; the GGUF pair is
// skipped when the file is missing). Needs web/pkg (scripts/build-web.sh), target/release/svdtune
// (cargo build --release), /usr/bin/chromium, python3 with numpy.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { resolve } from 'node:path';
import { artifacts, baseArgs, download, serveWeb } from '../tests/e2e/page.mjs';

const root = new URL('../', import.meta.url).pathname;
const opts = { model: `${root}web/demo/model`, gguf: `${homedir()}/.cache/svdtune/SmolLM2-135M-Instruct.Q4_1.gguf`, threads: String(availableParallelism()), seeds: '0', pairs: 'bf16,gguf' };
for (let i = 2; i < process.argv.length; i += 1) {
  const a = process.argv[i];
  if (a.startsWith('--') && a.slice(2) in opts && i + 1 < process.argv.length) opts[a.slice(2)] = process.argv[++i];
  else {
    console.error(`page_quality.mjs: unknown argument ${a} (see the header of bench/page_quality.mjs)`);
    process.exit(2);
  }
}
const cli = `${process.env.CARGO_TARGET_DIR ?? `${root}target`}/release/svdtune`;
for (const need of [cli, `${root}web/pkg`, resolve(opts.model)]) {
  if (!existsSync(need)) {
    console.error(`page_quality.mjs: ${need} is missing (see the header of bench/page_quality.mjs)`);
    process.exit(2);
  }
}
const work = `${artifacts}/page-quality`;
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

// The quality table's budget, as page settings and as CLI flags.
const SETTINGS = { rank_fraction: '0.1', lr: '0.01', epochs: '2', max_steps: '', batch_size: '4', seq_len: '128', grad_accum: '1', eval_fraction: '0', eval_every: '0', checkpoint_every: '0' };
const FLAGS = ['--rank-fraction', '0.1', '--lr', '1e-2', '--epochs', '2', '--batch-size', '4', '--seq-len', '128', '--eval-split', '0', '--eval-every', '0', '--backend', 'cpu'];
const seeds = opts.seeds.split(',');
const pairs = opts.pairs.split(',');
const data = `${root}demo/persona.jsonl`;

// The models: [name, path (folder or .gguf), the f32 path it is compared with].
const models = [];
if (pairs.includes('bf16')) {
  run('python3', ['bench/to_bf16.py', resolve(opts.model), `${work}/bf16`]);
  run('python3', ['bench/bf16_to_f32.py', `${work}/bf16`, `${work}/bf16-as-f32`]);
  models.push(['bf16-as-f32', `${work}/bf16-as-f32`, null], ['bf16', `${work}/bf16`, 'bf16-as-f32']);
}
if (pairs.includes('gguf') && existsSync(opts.gguf)) {
  run(cli, ['import-gguf', opts.gguf, '--out', `${work}/q4_1-import`]);
  models.push(['q4_1-import', `${work}/q4_1-import`, null], ['q4_1-gguf', resolve(opts.gguf), 'q4_1-import']);
} else if (pairs.includes('gguf')) console.log(`${opts.gguf} not found: the GGUF pair is skipped`);

const pct = (x, y) => `${(100 * (x - y)) / y >= 0 ? '+' : ''}${((100 * (x - y)) / y).toFixed(4)} %`;
const heldOut = (merged) => Number(/mean loss ([0-9.]+)/.exec(run(cli, ['eval', '--model', merged, '--data', `${root}demo/persona-eval.jsonl`, '--seq-len', '512', '--backend', 'cpu']))?.[1]);

// Trains `path` on the page and downloads the merged zip into `${work}/${name}-page`.
async function onPage(browser, origin, name, path, seed) {
  const context = await browser.newContext({ acceptDownloads: true });
  try {
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e}`));
    await page.goto(`${origin}/?cpu&threads=${opts.threads}`);
    await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });
    const engine = (await page.textContent('#engine')).trim();
    const files = path.endsWith('.gguf') ? [path] : readdirSync(path).filter((f) => /\.(json|safetensors|jinja)$/.test(f)).map((f) => `${path}/${f}`);
    await page.setInputFiles('#model-files', files);
    await page.waitForSelector('#model-status.ok, #model-status.bad', { timeout: 600_000 });
    const loaded = await page.textContent('#model-status');
    if (!(await page.isVisible('#model-status.ok'))) throw new Error(`${name}: model: ${loaded}`);
    for (const [field, value] of Object.entries({ ...SETTINGS, seed })) await page.fill(`#settings [name=${field}]`, value);
    await page.selectOption('#settings [name=full_loss]', '0');
    await page.setInputFiles('#data-file', data);
    await page.waitForSelector('#data-status.ok, #data-status.bad', { timeout: 120_000 });
    if (!(await page.isVisible('#data-status.ok'))) throw new Error(`${name}: data: ${await page.textContent('#data-status')}`);
    const t0 = Date.now();
    await page.click('#train');
    await page.waitForSelector('#chart[data-state]', { timeout: 3_600_000 });
    const secs = (Date.now() - t0) / 1000;
    const state = await page.getAttribute('#chart', 'data-state');
    if (state !== 'done') throw new Error(`${name}: run ${state}: ${await page.textContent('#train-status')}`);
    const steps = (await page.textContent('#stat-step')).trim();
    await page.selectOption('#merged-dtype', 'source');
    const zip = await download(page, '#dl-merged', `${work}/${name}-page.zip`);
    execFileSync('unzip', ['-q', '-o', zip, '-d', `${work}/${name}-page`]);
    rmSync(zip);
    return { secs, steps, engine };
  } finally {
    await context.close();
  }
}

const results = {}; // name → [{pageLoss, nativeLoss}] per seed
const { origin, stop } = await serveWeb();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: baseArgs });
let failed = false;
try {
  for (const seed of seeds) {
    for (const [name, path] of models) {
      try {
        const page = await onPage(browser, origin, name, path, seed);
        const pageLoss = heldOut(`${work}/${name}-page`);
        const t0 = Date.now();
        run(cli, ['train', '--model', path, '--data', data, '--out', `${work}/${name}-native`, '--seed', seed, ...FLAGS]);
        const nativeSecs = (Date.now() - t0) / 1000;
        const nativeLoss = heldOut(`${work}/${name}-native`);
        (results[name] ??= []).push({ pageLoss, nativeLoss });
        console.log(`seed ${seed} ${name}: held-out loss page ${pageLoss.toFixed(6)} (train ${page.steps} steps ${page.secs.toFixed(0)} s; ${page.engine}), native ${nativeLoss.toFixed(6)} (train + merge ${nativeSecs.toFixed(0)} s); page against native ${pct(pageLoss, nativeLoss)}`);
        rmSync(`${work}/${name}-page`, { recursive: true, force: true });
        rmSync(`${work}/${name}-native`, { recursive: true, force: true });
      } catch (e) {
        console.error(`seed ${seed} ${name}: FAILED ${e.message ?? e}`);
        failed = true;
      }
    }
  }
} finally {
  await browser.close();
  stop();
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
for (const [name, , reference] of models) {
  const [a, b] = [results[name], results[reference]];
  if (!a) continue;
  const [pa, na] = [mean(a.map((r) => r.pageLoss)), mean(a.map((r) => r.nativeLoss))];
  console.log(`${name}: mean over ${a.length} seed(s): page ${pa.toFixed(6)}, native ${na.toFixed(6)} (page against native ${pct(pa, na)})`);
  if (!reference || !b) continue;
  const [pb, nb] = [mean(b.map((r) => r.pageLoss)), mean(b.map((r) => r.nativeLoss))];
  console.log(`${name} against its f32 path (${reference}), means: page ${pct(pa, pb)}, native ${pct(na, nb)}`);
}
process.exit(failed ? 1 : 0);
