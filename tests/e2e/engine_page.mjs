// End-to-end: the training page's engine choice, loss chart and streamed generation, in headless
// Chromium with WebGPU on (its adapter is SwiftShader, a software renderer). Checks that by
// default the page takes the CPU engine and says why (naming SwiftShader), that `?gpu` opens
// WebGPU anyway (its matrix tiles unmeasured on a software adapter; `?measure-tiles=small` measures
// them and keeps the result, a later `?measure-tiles` uses it) and `?cpu` says it was chosen, that
// the Engine setting reopens the engine and loads the model and data again; then trains on the
// CPU engine: the chart has round tick labels
// and shows the values under the pointer, a 1-step run draws its point, and Generate streams its
// answers (several updates before the final one, tokens/s under each). Screenshots in
// artifacts/engine-page/. Usage: node tests/e2e/engine_page.mjs
import { chromium } from 'playwright-core';
import { mkdirSync, rmSync } from 'node:fs';
import { artifacts, baseArgs, check, failed, prepare, serveWeb, waitForAnswers, watch } from './page.mjs';

const out = `${artifacts}/engine-page`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const { origin, stop } = await serveWeb();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...baseArgs, '--enable-unsafe-webgpu'] });

// Opens the page at `query` and returns it with its engine line {state, text}.
async function open(context, query) {
  const page = await context.newPage();
  await page.goto(`${origin}/${query}`);
  await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });
  return { page, state: await page.getAttribute('#engine', 'data-state'), text: await page.textContent('#engine') };
}

// Trains with the form as it is and waits for the end of the run.
async function trainRun(page) {
  await page.click('#train');
  await page.waitForSelector('#chart[data-state]', { timeout: 300_000 });
}

try {
  const context = await browser.newContext({ viewport: { width: 900, height: 1200 } });
  const gpu = await open(context, '?gpu');
  check(gpu.state === 'gpu' && /^WebGPU: .*software renderer \(SwiftShader\) chosen by \?gpu/.test(gpu.text), `?gpu: ${gpu.state} "${gpu.text}"`);
  check(!/Matrix tiles/.test(gpu.text), `?gpu on a software adapter keeps the default tiles unmeasured: "${gpu.text}"`);
  await gpu.page.close();

  // The matrix tiles: `?measure-tiles=small` measures them on SwiftShader (small products) and
  // keeps the result in the page's storage; `?measure-tiles` then uses what is kept.
  const measured = await open(context, '?gpu&measure-tiles=small');
  const kept = await measured.page.evaluate(() => localStorage.getItem('svdtune.gpu-tiles.v1'));
  check(measured.state === 'gpu' && /Matrix tiles: (64×64|128×128 from \d+ rows and columns, 64×64 below) \(measured on this GPU in \d+\.\d s\)\.$/.test(measured.text)
    && /"wide_tiles":\d+/.test(kept ?? ''), `?measure-tiles=small: "${measured.text}", kept ${kept}`);
  await measured.page.close();
  const again = await open(context, '?gpu&measure-tiles');
  check(/Matrix tiles: .+ \(as measured on an earlier visit\)\.$/.test(again.text), `?measure-tiles with a kept measurement: "${again.text}"`);
  await again.page.close();
  const cpu = await open(context, '?cpu');
  const cores = await cpu.page.evaluate(() => navigator.hardwareConcurrency);
  const threads = cores > 1 ? `${cores} threads.` : 'One thread (the Threads setting).';
  check(cpu.state === 'chosen' && cpu.text === `CPU engine: chosen by ?cpu. ${threads}`, `?cpu: ${cpu.state} "${cpu.text}"`);
  check(await cpu.page.inputValue('#engine-choice') === 'cpu', '?cpu: the Engine setting shows CPU');
  await cpu.page.close();

  const { page, state, text } = await open(context, '');
  const { errors, foreign } = watch(context, page, origin);
  check(state === 'software' && /^CPU engine: this browser's WebGPU is a software renderer \(SwiftShader: .+\), slower than the CPU engine/.test(text),
    `default: ${state} "${text}"`);
  await page.screenshot({ path: `${out}/engine-auto.png` });

  // The Engine setting: reopens the engine, loads the model and data again, keeps it in the address.
  await prepare(page, 'setting');
  await page.selectOption('#engine-choice', 'gpu');
  await page.waitForFunction(() => document.querySelector('#engine').dataset.state === 'gpu', null, { timeout: 120_000 });
  await page.waitForSelector('#model-status.ok, #model-status.bad', { timeout: 120_000 });
  await page.waitForSelector('#data-status.ok, #data-status.bad', { timeout: 120_000 });
  check(/chosen by the Engine setting/.test(await page.textContent('#engine')) && new URL(page.url()).search === '?gpu',
    `setting: "${await page.textContent('#engine')}" at ${page.url()}`);
  check(/^Loaded/.test(await page.textContent('#model-status')) && await page.isEnabled('#train'), `setting: the model and data are loaded again ("${await page.textContent('#model-status')}")`);
  await page.selectOption('#engine-choice', 'auto');
  await page.waitForFunction(() => document.querySelector('#engine').dataset.state === 'software', null, { timeout: 120_000 });
  await page.waitForSelector('#model-status.ok', { timeout: 120_000 });
  await page.waitForSelector('#data-status.ok', { timeout: 120_000 });

  // The chart: ticks at round values, step numbers, values under the pointer.
  await page.fill('#settings [name=max_steps]', '6');
  await page.fill('#settings [name=eval_every]', '2');
  await trainRun(page);
  const ticks = await page.$eval('#chart', (c) => ({ x: c.dataset.xTicks.split(','), y: c.dataset.yTicks.split(',') }));
  const round = ticks.y.every((t) => /^\d+(\.\d{1,2})?$/.test(t)) && ticks.y.length >= 3;
  check(round && ticks.x[0] === '0' && ticks.x.includes('6') && ticks.x.length >= 3, `chart: x ticks ${ticks.x}, y ticks ${ticks.y}`);
  await page.$eval('#chart', (c) => c.scrollIntoView({ block: 'center' }));
  const box = await page.$eval('#chart', (c) => { const r = c.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
  await page.mouse.move(box.x + 56 + (box.w - 70) * (4 / Number(ticks.x.at(-1))), box.y + box.h / 2);
  const hover = await page.getAttribute('#chart', 'data-hover');
  check(/^step 4, loss \d+\.\d{4}, smoothed \d+\.\d{4}, eval loss \d+\.\d{4}$/.test(hover), `chart: hover at step 4 shows "${hover}"`);
  await page.screenshot({ path: `${out}/chart-hover.png` });

  // Generate streams: several updates of each answer before the final one, tokens/s under it.
  await page.evaluate(() => {
    window.seen = { original: [], current: [] };
    for (const w of ['original', 'current']) {
      const el = document.querySelector(`#answer-${w}`);
      new MutationObserver(() => { if (el.hasAttribute('aria-busy')) window.seen[w].push(el.textContent); })
        .observe(el, { childList: true, characterData: true, subtree: true });
    }
  });
  await page.fill('#max-new', '24');
  await page.click('#generate');
  await waitForAnswers(page);
  const seen = await page.evaluate(() => window.seen);
  const partial = seen.original.filter((t) => t !== '…');
  const rates = [await page.textContent('#rate-original'), await page.textContent('#rate-current')];
  check(new Set(partial).size >= 4 && seen.current.length >= 2, `generate: ${new Set(partial).size} distinct texts of the original answer and ${seen.current.length} updates of the current one while they streamed`);
  check(rates.every((r) => /^\d+ tokens?, \d+(\.\d)? tokens\/s$/.test(r)) && rates[0].startsWith('24 tokens'), `generate: "${rates.join('" / "')}"`);
  await page.screenshot({ path: `${out}/generate.png`, fullPage: true });

  // A 1-step run draws its point (where the chart says it is, in the training colour).
  await page.fill('#settings [name=max_steps]', '1');
  await trainRun(page);
  await page.mouse.move(0, 0);
  const pixel = await page.$eval('#chart', (c) => {
    const [x, y] = c.dataset.lastPoint.split(',').map(Number);
    const d = c.getContext('2d').getImageData(Math.round(x * devicePixelRatio), Math.round(y * devicePixelRatio), 1, 1).data;
    return { steps: c.dataset.steps, rgba: [...d] };
  });
  // --train is #0969da: (9, 105, 218).
  const [r, g, b, a] = pixel.rgba;
  check(pixel.steps === '1' && a > 200 && Math.abs(r - 9) < 40 && Math.abs(g - 105) < 40 && Math.abs(b - 218) < 40,
    `1-step run: ${pixel.steps} step, its point's pixel rgba(${pixel.rgba})`);
  await page.screenshot({ path: `${out}/one-step.png` });
  check(errors.length === 0, `no page errors${errors.length ? `: ${errors.join(' | ')}` : ''}`);
  check(foreign.length === 0, `no requests beyond the page's own files${foreign.length ? `: ${foreign.join(' ')}` : ''}`);
} catch (e) {
  check(false, `FAIL: ${e.stack ?? e}`);
} finally {
  await browser.close();
  stop();
}
process.exit(failed() ? 1 : 0);
