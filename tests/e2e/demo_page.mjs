// End-to-end: the README's main job on a tiny model, and GGUF files on the page, in headless
// Chromium with WebGPU. `scripts/demo.sh` prepares a demo from the tiny chat model's GGUF file
// (Q8_0) exactly as it prepares the default one; the page opened with `?demo=FOLDER` loads the
// model, data and settings by itself and Train works without any other step (the loss falls,
// the prompt is filled in and answered). Then a fresh page is given the .gguf file through the
// file picker: it is converted in the page, shows its GGUF tensor types, and trains.
// Usage: node tests/e2e/demo_page.mjs   (needs target/release/svdtune: cargo build --release)
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SETTINGS, fixture } from './native.mjs';
import { artifacts, baseArgs, check, download, failed, root, serveWeb, waitForAnswers, watch } from './page.mjs';

const gguf = `${root}tests/fixtures/gguf/tiny_chat.gguf`;
const demo = 'e2e-demo';
const out = `${artifacts}/demo-page`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const { checkpoint_every: _, ...settings } = SETTINGS;
writeFileSync(`${out}/settings.json`, JSON.stringify({ ...settings, checkpoint_every: '0' }));
execFileSync(`${root}scripts/demo.sh`, ['--gguf', gguf, '--data', `${fixture}/data.jsonl`, '--settings', `${out}/settings.json`,
  '--out', `${root}web/${demo}`, '--name', 'tiny-chat-q8'], { stdio: 'inherit' });

const { origin, stop } = await serveWeb();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...baseArgs, '--enable-unsafe-webgpu'] });

// Waits for a run to finish and returns its training losses (from the page's JSON log).
async function finish(page, name) {
  await page.waitForSelector('#chart[data-state]', { timeout: 600_000 });
  check(await page.getAttribute('#chart', 'data-state') === 'done', `${name}: run "${await page.textContent('#train-status')}"`);
  const log = JSON.parse(readFileSync(await download(page, '#dl-json', `${out}/${name}-log.json`), 'utf8'));
  return log.steps.map((s) => s.loss);
}

try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 1200 } });
  const page = await context.newPage();
  const { errors, foreign } = watch(context, page, origin);
  await page.goto(`${origin}/?gpu&demo=${demo}`);
  await page.waitForSelector('#data-status.ok, #data-status.bad, #model-status.bad', { timeout: 180_000 });
  check(await page.isVisible('#model-status.ok'), `demo: model "${await page.textContent('#model-status')}"`);
  check(await page.isVisible('#data-status.ok'), `demo: data "${await page.textContent('#data-status')}"`);
  const info = (await page.innerText('#model-info')).replace(/\s+/g, ' ');
  check(/llama/.test(info) && /Weights F32/.test(info), `demo: model info ${info}`);
  const form = await page.$$eval('#settings [name]', (els) => Object.fromEntries(els.map((e) => [e.name, e.value])));
  check(Object.entries(settings).every(([k, v]) => Number(form[k]) === Number(v)), `demo: settings from the manifest ${JSON.stringify(form)}`);
  check(await page.isEnabled('#train') && await page.inputValue('#prompt') === 'What is your name?', 'demo: Train is ready and the prompt filled in');
  check(/Demo: tiny-chat-q8/.test(await page.textContent('#demo-note')), `demo: "${await page.textContent('#demo-note')}"`);
  await page.click('#train');
  const losses = await finish(page, 'demo');
  const [head, tail] = [(losses[0] + losses[1]) / 2, (losses.at(-1) + losses.at(-2)) / 2];
  check(losses.length === 12 && tail < head - 0.5, `demo: ${losses.length} steps, training loss ${head.toFixed(3)} → ${tail.toFixed(3)}`);
  await page.click('#generate');
  await waitForAnswers(page);
  const [before, after] = [await page.textContent('#answer-original'), await page.textContent('#answer-current')];
  check(before !== after && !after.startsWith('Error'), `demo: answers before ${JSON.stringify(before)} and after ${JSON.stringify(after)}`);
  await page.screenshot({ path: `${out}/demo.png`, fullPage: true });
  check(errors.length === 0, `demo: no page errors${errors.length ? `: ${errors.join(' | ')}` : ''}`);
  check(foreign.length === 0, `demo: no requests beyond the page's own files${foreign.length ? `: ${foreign.join(' ')}` : ''}`);

  const page2 = await context.newPage();
  await page2.goto(`${origin}/?gpu`);
  await page2.waitForSelector('#engine[data-state]', { timeout: 120_000 });
  await page2.setInputFiles('#model-files', gguf);
  await page2.waitForSelector('#model-status.ok, #model-status.bad', { timeout: 120_000 });
  check(await page2.isVisible('#model-status.ok'), `gguf: "${await page2.textContent('#model-status')}"`);
  const info2 = (await page2.innerText('#model-info')).replace(/\s+/g, ' ');
  check(/llama/.test(info2) && /GGUF \(.*Q8_0.*\): matrices kept in the file's types/.test(info2), `gguf: model info (trained as its Q8_0 blocks) ${info2}`);
  for (const [field, value] of Object.entries(settings)) await page2.fill(`#settings [name=${field}]`, value);
  await page2.fill('#settings [name=max_steps]', '3');
  await page2.setInputFiles('#data-file', `${fixture}/data.jsonl`);
  await page2.waitForSelector('#data-status.ok', { timeout: 60_000 });
  await page2.click('#train');
  await finish(page2, 'gguf');
  await page2.screenshot({ path: `${out}/gguf.png`, fullPage: true });
  const bad = `${out}/broken.gguf`;
  writeFileSync(bad, Buffer.from('GGUF\x03\x00\x00\x00 this is not a model'));
  await page2.setInputFiles('#model-files', bad);
  await page2.waitForSelector('#model-status.bad', { timeout: 60_000 });
  const said = await page2.textContent('#model-status');
  check(/broken\.gguf/.test(said), `gguf: a broken file is named: "${said}"`);
} catch (e) {
  check(false, `FAIL: ${e.stack ?? e}`);
} finally {
  await browser.close();
  stop();
  rmSync(`${root}web/${demo}`, { recursive: true, force: true });
}
process.exit(failed() ? 1 : 0);
