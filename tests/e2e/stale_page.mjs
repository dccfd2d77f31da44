// End-to-end: nothing stale or contradictory on the training page, and the data-driven choices
// (headless Chromium, on the engine the page picks). With the tiny chat model: the loaded folder and data file are
// named beside their pickers; the sequence length is chosen from the data ("Sequence length N:
// fits …") until the user sets one; "Pack examples into rows" changes the rows and batches the
// data info shows; before any training the merged download is disabled and Generate shows one
// answer ("The model as loaded"); a PNG renamed .jsonl is "not a text file" and an empty file
// names itself once, and either takes the previous file's statistics off the page; a 1-step run
// says "1 step" and then shows both answers; a paused run's downloads work (the adapter zip is
// dated today) and the run goes on after them; a model that fails to load takes its
// details and plan off the page, and a folder refused for its chat template leaves the loaded
// model's details marked as the model still loaded. Screenshots go to artifacts/stale-page/.
// Usage: node tests/e2e/stale_page.mjs   (after scripts/build-web.sh)
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { SETTINGS, fixture } from './native.mjs';
import { artifacts, baseArgs, check, download, failed, serveWeb, watch } from './page.mjs';

const out = `${artifacts}/stale-page`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const { origin, stop } = await serveWeb();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...baseArgs, '--enable-unsafe-webgpu'] });
const text = async (page, sel) => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();
const count = (s, sub) => s.split(sub).length - 1;

const { plural } = await import(`${new URL('../../web/data_view.js', import.meta.url).pathname}`);
check(plural(1, 'step') === '1 step' && plural(2, 'step') === '2 steps' && plural(1, 'batch') === '1 batch' && plural(3, 'batch') === '3 batches',
  `plurals: ${[plural(1, 'step'), plural(2, 'step'), plural(1, 'batch'), plural(3, 'batch')].join(', ')}`);

// A copy of the tiny chat model with `change(dir)` applied.
function modelCopy(name, change) {
  const dir = `${out}/${name}`;
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(fixture)) if (f !== 'data.jsonl' && !f.endsWith('.py')) copyFileSync(`${fixture}/${f}`, `${dir}/${f}`);
  change(dir);
  return dir;
}

// Waits for the data status to settle after giving the page `file`.
async function giveData(page, file) {
  await page.setInputFiles('#data-file', file);
  await page.waitForFunction(() => /^(Read |Cannot use )/.test(document.querySelector('#data-status').textContent), null, { timeout: 120_000 });
}

async function untilDone(page) {
  await page.waitForSelector('#chart[data-state]', { timeout: 600_000 });
}

try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 1400 } });
  const page = await context.newPage();
  const { errors, foreign } = watch(context, page, origin);
  await page.goto(`${origin}/`);
  await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });

  // The pickers name what was loaded.
  await page.setInputFiles('#model-folder', fixture);
  await page.waitForSelector('#model-status.ok', { timeout: 120_000 });
  const picked = await text(page, '#model-picked');
  check(/Loaded: tiny-chat/.test(picked), `the model picker names the loaded folder: "${picked}"`);

  // The sequence length comes from the data.
  await giveData(page, `${fixture}/data.jsonl`);
  const seq = Number(await page.inputValue('#settings [name=seq_len]'));
  const choice = await text(page, '#seq-choice');
  check(seq !== 512 && seq % 64 === 0 && choice.startsWith(`Sequence length ${seq}: fits`), `the sequence length is chosen from the data: ${seq}, "${choice}"`);
  check(/Loaded: data\.jsonl/.test(await text(page, '#data-picked')), 'the data picker names the loaded file');
  const info = await text(page, '#data-info');
  check(new RegExp(`cut to ${seq} tokens`).test(info) && /95 % of the examples have at most/.test(info), `the data info is for that length: "${info}"`);

  // Packing changes the rows and batches (at a length that fits several examples per row).
  const batches = (s) => Number(/train \((?:[\d,]+ packed rows?, )?(\d+) batch/.exec(s)?.[1]);
  await page.fill('#settings [name=seq_len]', '256');
  await page.dispatchEvent('#settings [name=seq_len]', 'change');
  await page.waitForFunction(() => /cut to 256 tokens/.test(document.querySelector('#data-info').textContent), null, { timeout: 60_000 });
  const wide = await text(page, '#data-info');
  await page.check('#settings [name=pack]');
  await page.waitForFunction(() => /packed row/.test(document.querySelector('#data-info').textContent), null, { timeout: 60_000 });
  const packed = await text(page, '#data-info');
  check(batches(packed) < batches(wide), `packing: ${batches(wide)} → ${batches(packed)} train batches ("${/Split[^B]*/.exec(packed)?.[0]}")`);
  await page.uncheck('#settings [name=pack]');
  await page.waitForFunction(() => !/packed row/.test(document.querySelector('#data-info').textContent), null, { timeout: 60_000 });

  // Before any training: no merged download, one answer.
  check(await page.isDisabled('#dl-merged'), 'the merged download is disabled before training');
  await page.click('#generate');
  await page.waitForFunction(() => !['', '…'].includes(document.querySelector('#answer-original').textContent), null, { timeout: 120_000 });
  const one = await page.isHidden('#answer-current') && (await text(page, '.answers figure figcaption')) === 'The model as loaded';
  check(one, 'before training Generate shows one answer, "The model as loaded"');
  await page.screenshot({ path: `${out}/before-training.png`, fullPage: true });

  // Broken data files: one message naming the file once; the old statistics go.
  const png = `${out}/picture.jsonl`;
  writeFileSync(png, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), Buffer.from('IHDR\n'.repeat(21))]));
  await giveData(page, png);
  const said = await page.textContent('#data-status');
  check(/^Cannot use picture\.jsonl: not a text file/.test(said) && count(said, 'picture.jsonl') === 1 && !/dataset:/.test(said), `a PNG renamed .jsonl: "${said}"`);
  check(await page.isHidden('#data-info') && await page.isHidden('#data-skips') && await page.isHidden('#seq-choice'), 'the previous file\'s statistics are gone');
  await page.screenshot({ path: `${out}/not-text.png`, fullPage: true });
  const empty = `${out}/empty.jsonl`;
  writeFileSync(empty, '');
  await giveData(page, empty);
  const none = await page.textContent('#data-status');
  check(/^Cannot use empty\.jsonl: no usable record/.test(none) && count(none, 'empty.jsonl') === 1 && !/dataset:/.test(none), `an empty file: "${none}"`);

  // A 1-step run: plurals, then both answers and the merged download.
  await giveData(page, `${fixture}/data.jsonl`);
  for (const [field, value] of Object.entries({ ...SETTINGS, max_steps: '1' })) await page.fill(`#settings [name=${field}]`, value);
  await page.dispatchEvent('#settings [name=seq_len]', 'change');
  await page.waitForFunction(() => document.querySelector('#data-status').textContent.startsWith('Read') && !document.querySelector('#train').disabled, null, { timeout: 60_000 });
  // Every line the train status shows, kept by an observer (the start line is replaced soon).
  await page.evaluate(() => {
    window.statusLines = [];
    for (const el of [document.querySelector('#train-status'), document.querySelector('#train-summary')]) {
      new MutationObserver(() => window.statusLines.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
    }
  });
  await page.click('#train');
  await untilDone(page);
  const lines = await page.evaluate(() => window.statusLines);
  const started = lines.find((l) => /parameters for/.test(l)) ?? '';
  check(/parameters for 1 step[ .,]/.test(started) && !lines.some((l) => /\b1 (steps|layers)\b/.test(l)), `a 1-step run says "1 step": "${started}"`);
  const log = JSON.parse(readFileSync(await download(page, '#dl-json', `${out}/one-step.json`), 'utf8'));
  check(log.steps.length === 1, `a 1-step run ran ${log.steps.length} step`);
  check(await page.isEnabled('#dl-merged'), 'the merged download is enabled after a trained step');
  await page.click('#generate');
  await page.waitForFunction(() => !['', '…'].includes(document.querySelector('#answer-current').textContent) && !document.querySelector('#generate').disabled, null, { timeout: 120_000 });
  check(await page.isVisible('#answer-current') && (await text(page, '.answers figure figcaption')) === 'Original model', 'after training both answers show');

  // Downloads while paused; the run then goes on (a long run, so that Pause comes before its end).
  await page.fill('#settings [name=epochs]', '50');
  await page.fill('#settings [name=max_steps]', '300');
  await page.click('#train');
  await page.waitForFunction(() => Number(document.querySelector('#chart').dataset.steps) >= 1, null, { timeout: 300_000 });
  await page.click('#pause');
  await page.waitForFunction(() => document.querySelector('#train-status').textContent.startsWith('Paused'), null, { timeout: 120_000 });
  const at = Number(await page.getAttribute('#chart', 'data-steps'));
  check(await page.isEnabled('#dl-merged') && await page.isEnabled('#dl-adapter'), `paused after step ${at}: the downloads are enabled`);
  const adapter = await download(page, '#dl-adapter', `${out}/paused-adapter.zip`);
  const listing = execFileSync('unzip', ['-l', adapter]).toString();
  const year = new Date().getUTCFullYear();
  check(/adapter_model\.safetensors/.test(listing) && listing.includes(`${year}-`) && !/1980-/.test(listing), `paused: the adapter downloads, dated this year:\n${listing}`);
  const merged = await download(page, '#dl-merged', `${out}/paused-merged.zip`);
  check(/model\.safetensors/.test(execFileSync('unzip', ['-l', merged]).toString()), 'paused: the merged model downloads');
  await page.screenshot({ path: `${out}/paused.png`, fullPage: true });
  check(Number(await page.getAttribute('#chart', 'data-steps')) === at, 'paused: the downloads ran no step');
  await page.click('#resume');
  await page.waitForFunction((n) => Number(document.querySelector('#chart').dataset.steps) > n, at, { timeout: 300_000 });
  await page.click('#stop');
  await untilDone(page);
  const steps = Number(await page.getAttribute('#chart', 'data-steps'));
  check(await page.getAttribute('#chart', 'data-state') === 'stopped' && steps > at, `the run went on after the downloads: step ${at} → ${steps}`);

  // A model that fails to load takes its details off the page.
  const broken = modelCopy('broken-weights', (dir) => writeFileSync(`${dir}/model.safetensors`, 'not safetensors'));
  await page.setInputFiles('#model-folder', broken);
  await page.waitForSelector('#model-status.bad', { timeout: 120_000 });
  check(await page.isHidden('#model-info') && await page.isHidden('#plan') && await page.isHidden('#model-picked'), `a failed model load clears the old details: "${await page.textContent('#model-status')}"`);
  await page.screenshot({ path: `${out}/failed-model.png`, fullPage: true });

  // A folder refused for its template leaves the loaded model, marked as such.
  await page.setInputFiles('#model-folder', fixture);
  await page.waitForSelector('#model-status.ok', { timeout: 120_000 });
  const refused = modelCopy('bad-template', (dir) => writeFileSync(`${dir}/chat_template.jinja`, '{% for %}'));
  await page.setInputFiles('#model-folder', refused);
  await page.waitForSelector('#model-status.bad', { timeout: 120_000 });
  const refusal = await page.textContent('#model-status');
  check(!/\(chat_template\.jinja\): chat template: /.test(refusal), `the refusal has no internal "chat template: " prefix: "${refusal}"`);
  const kept = await text(page, '#model-kept');
  check(await page.isVisible('#model-info') && /tiny-chat, the model still loaded/.test(kept), `a refused template keeps the loaded model's details, marked: "${kept}"`);
  await page.screenshot({ path: `${out}/kept-model.png`, fullPage: true });

  check(errors.length === 0, `no page errors${errors.length ? `: ${errors.join(' | ')}` : ''}`);
  check(foreign.length === 0, 'no requests beyond the page\'s own files');
} finally {
  await browser.close();
  stop();
}
process.exit(failed() ? 1 : 0);
