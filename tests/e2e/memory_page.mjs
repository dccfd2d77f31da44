// End-to-end: the page's memory table in headless Chromium with WebGPU (`?gpu`: SwiftShader). The
// tiny chat model's table appears with the model (weights, factors, optimizer, activations and a
// total that is their sum, all plausible for its size), follows the settings (f32 factors take
// more than the default f16 ones, a longer sequence more activations), and is checked against the GPU memory
// setting: a tiny one refuses the run with the numbers (Train disabled, the reason on the page),
// a large one allows it. Usage: node tests/e2e/memory_page.mjs
import { chromium } from 'playwright-core';
import { mkdirSync, rmSync } from 'node:fs';
import { artifacts, baseArgs, check, failed, prepare, serveWeb, watch } from './page.mjs';

const out = `${artifacts}/memory-page`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const { origin, stop } = await serveWeb();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...baseArgs, '--enable-unsafe-webgpu'] });

// The table as {Weights, Factors, Optimizer, Activations, Decomposition, Total} in bytes.
const table = (page) => page.$$eval('#memory-table tbody tr', (trs) => Object.fromEntries(trs.map((tr) => [
  tr.cells[0].textContent.split(' ')[0], Number(tr.cells[1].dataset.bytes)])));

// What the memory section says: its text and every row's exact byte count (two settings can give
// the same rounded text, e.g. "0.1 MB" of factors in f16 and in f32; the wait below repeats it
// inline, as the page's CSP allows no string evaluation).
const shown = () => document.querySelector('#memory').innerText
  + [...document.querySelectorAll('#memory-table tbody tr')].map((tr) => tr.cells[1].dataset.bytes).join(',');

// Sets a settings field and waits until the table (its bytes or verdict) changes.
async function set(page, field, value) {
  const before = await page.evaluate(shown);
  const sel = `#settings [name=${field}]`;
  if (field === 'factor_format') await page.selectOption(sel, value);
  else {
    await page.fill(sel, value);
    await page.dispatchEvent(sel, 'change');
  }
  await page.waitForFunction((b) => document.querySelector('#memory').innerText
    + [...document.querySelectorAll('#memory-table tbody tr')].map((tr) => tr.cells[1].dataset.bytes).join(',') !== b,
  before, { timeout: 60_000 });
}

try {
  const context = await browser.newContext({ viewport: { width: 900, height: 1400 } });
  const page = await context.newPage();
  const { errors, foreign } = watch(context, page, origin);
  await page.goto(`${origin}/?gpu`);
  await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });
  check(await page.getAttribute('#engine', 'data-state') === 'gpu', `WebGPU: "${await page.textContent('#engine')}"`);
  await prepare(page, 'memory');
  await page.waitForSelector('#memory:not([hidden])', { timeout: 60_000 });
  await page.waitForFunction(() => /4 × 64/.test(document.querySelector('#memory-caption').textContent), null, { timeout: 60_000 });
  const t = await table(page);
  const parts = t.Weights + t.Factors + Math.max(t.Optimizer + t.Activations, t.Decomposition);
  check(t.Weights > 100_000 && t.Factors > 0 && t.Optimizer > 0 && t.Activations > 0 && t.Decomposition > 0 && t.Total === parts && t.Total < 50e6,
    `the table at 4 × 64: ${JSON.stringify(t)}`);
  check(/^Fits 4\.00 GB of GPU memory/.test(await page.textContent('#memory-verdict')) && await page.isEnabled('#train'),
    `the default 4 GB fits: "${await page.textContent('#memory-verdict')}"`);

  check(await page.inputValue('#settings [name=factor_format]') === 'f16', 'factors are f16 by default');
  await set(page, 'factor_format', 'f32');
  const f32 = await table(page);
  check(f32.Factors > t.Factors && f32.Weights === t.Weights, `f32 factors: ${f32.Factors} > ${t.Factors} bytes (f16)`);
  await set(page, 'seq_len', '128');
  const longer = await table(page);
  check(longer.Activations > f32.Activations, `seq 128: activations ${longer.Activations} > ${f32.Activations}`);

  await set(page, 'gpu_memory', '0.000001');
  await page.waitForSelector('#memory-verdict.bad', { timeout: 60_000 });
  const said = await page.textContent('#memory-verdict');
  check(/Training is refused: not enough GPU memory for training batches of 4 × 128 \(weights .* activations .*recomputed\)/.test(said)
    && /of at most 1\.0 kB available/.test(said), `tiny GPU memory: "${said}"`);
  check(await page.isDisabled('#train') && /Does not fit/.test(await page.getAttribute('#train', 'title')), 'tiny GPU memory: Train is disabled with the reason');
  await page.screenshot({ path: `${out}/refused.png`, fullPage: true });

  await set(page, 'gpu_memory', '100');
  await page.waitForSelector('#memory-verdict.ok', { timeout: 60_000 });
  check(await page.isEnabled('#train'), `100 GB: Train is enabled ("${await page.textContent('#memory-verdict')}")`);
  check(errors.length === 0, `no page errors ${errors.join(' | ')}`);
  check(foreign.length === 0, `no requests off the page's origin ${foreign.join(' ')}`);
} finally {
  await browser.close();
  stop();
}
process.exit(failed() ? 1 : 0);
