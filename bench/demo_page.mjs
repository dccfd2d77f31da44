// The README's main job, measured as a user meets it: the page opened at `/?demo` (the demo that
// scripts/demo.sh prepared in web/demo/: SmolLM2-135M-Instruct and the persona data with their
// settings) in headless Chromium, on the engine the page picks (the CPU engine on a machine
// without a GPU). Prints the engine line, the estimate shown before Train, then the run's phases
// as the status line reports them with their times, the loss over the file, the whole run's wall
// time against the estimate, and the answers of the original and tuned model to the demo's
// prompt; saves screenshots (before, during and after) to artifacts/demo-run/. Fails when the
// tuned answer does not contain the expected text (--expect, default "Juniper").
// Usage: node bench/demo_page.mjs [--demo demo] [--expect Juniper] [--timeout-min 60] [--query ""]
// Needs web/pkg (scripts/build-web.sh) and web/demo (scripts/demo.sh).
import { chromium } from 'playwright-core';
import { mkdirSync, rmSync } from 'node:fs';
import { artifacts, baseArgs, serveWeb, waitForAnswers } from '../tests/e2e/page.mjs';

const opts = { demo: 'demo', expect: 'Juniper', 'timeout-min': '60', query: '' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i]?.replace(/^--/, '');
  if (!(k in opts) || i + 1 >= process.argv.length) {
    console.error(`demo_page.mjs: unknown argument ${process.argv[i]} (see the header of bench/demo_page.mjs)`);
    process.exit(2);
  }
  opts[k] = process.argv[i + 1];
}
const out = `${artifacts}/demo-run`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s`;
const { origin, stop } = await serveWeb();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...baseArgs, '--enable-unsafe-webgpu'] });
let ok = false;
try {
  const page = await (await browser.newContext({ viewport: { width: 1100, height: 1500 } })).newPage();
  page.on('pageerror', (e) => console.log(`page error: ${e}`));
  await page.goto(`${origin}/?demo${opts.demo === 'demo' ? '' : `=${opts.demo}`}${opts.query}`);
  await page.waitForSelector('#demo-note:not([hidden])', { timeout: 300_000 });
  await page.waitForFunction(() => document.querySelector('#estimate')?.textContent.startsWith('Estimated'), null, { timeout: 300_000 });
  console.log(`${since()}  engine: ${await page.textContent('#engine')}`);
  console.log(`${since()}  ${await page.textContent('#estimate')}`);
  await page.screenshot({ path: `${out}/before.png`, fullPage: true });
  const started = Date.now();
  await page.click('#train');
  // Every distinct status line, with the time it first appeared (one line per phase change).
  let last = '';
  let shot = false;
  const deadline = started + Number(opts['timeout-min']) * 60_000;
  for (;;) {
    const [line, state] = await page.evaluate(() => [document.querySelector('#train-status').textContent, document.querySelector('#chart').dataset.state ?? '']);
    const phase = line.replace(/\d+ of \d+/g, 'N of M').replace(/step \d+/g, 'step N');
    if (phase !== last) {
      console.log(`${since()}  ${line}`);
      last = phase;
    }
    if (!shot && /^Training: step [2-9]/.test(line)) {
      await page.screenshot({ path: `${out}/training.png`, fullPage: true });
      shot = true;
    }
    if (state) break;
    if (Date.now() > deadline) throw new Error(`the run did not end within ${opts['timeout-min']} min`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const wall = (Date.now() - started) / 1000;
  console.log(`${since()}  run ${await page.getAttribute('#chart', 'data-state')} after ${wall.toFixed(0)} s; loss over the file ${await page.textContent('#stat-full')} ${await page.textContent('#stat-full-of')}; eval loss ${await page.textContent('#stat-eval')}`);
  await page.click('#generate');
  await waitForAnswers(page, 600_000);
  const original = await page.textContent('#answer-original');
  const current = await page.textContent('#answer-current');
  console.log(`${since()}  prompt: ${await page.inputValue('#prompt')}`);
  console.log(`${since()}  original: ${JSON.stringify(original)}`);
  console.log(`${since()}  tuned:    ${JSON.stringify(current)}`);
  await page.screenshot({ path: `${out}/after.png`, fullPage: true });
  ok = current.includes(opts.expect);
  console.log(`${ok ? 'ok  ' : 'FAIL'} the tuned answer ${ok ? 'contains' : 'lacks'} "${opts.expect}"`);
} catch (e) {
  console.log(`FAIL ${e.stack ?? e}`);
} finally {
  await browser.close();
  stop();
}
process.exit(ok ? 0 : 1);
