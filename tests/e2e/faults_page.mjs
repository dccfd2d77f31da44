// End-to-end: faults on the training page in headless Chromium with WebGPU (page hooks `?test`):
// the GPU device is lost mid-run (the page says so, keeps the checkpoint and continues on a new
// device to the loss an uninterrupted run reaches), browser storage is full while checkpointing
// (reported, training goes on, the download still works), and a GPU too small for the model's
// tensors (`?max-binding=`: the error names the tensor, its size and the device's limit), and a
// GPU with too little memory for the run (`?max-memory=`: refused by the memory table before
// anything is uploaded, Train disabled with the estimate and the budget; the model stays loaded
// and a smaller batch trains).
// Usage: node tests/e2e/faults_page.mjs   (needs target/release/svdtune: cargo build --release)
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { nativeTrainLoss } from './native.mjs';
import { artifacts, baseArgs, check, download, failed, prepare, serveWeb, watch } from './page.mjs';

const { origin, stop } = await serveWeb();
const args = [...baseArgs, '--enable-unsafe-webgpu'];

// Opens the page at `query` in a fresh browser and runs `body(page, out)`. `FAULTS_ONLY=name`
// runs one case.
async function withPage(name, query, body) {
  if (process.env.FAULTS_ONLY && process.env.FAULTS_ONLY !== name) return;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });
  const out = `${artifacts}/faults-${name}`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  try {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 1200 } });
    const page = await context.newPage();
    const { foreign } = watch(context, page, origin);
    // ?gpu: WebGPU even on a software adapter (headless Chromium has SwiftShader).
    await page.goto(`${origin}/?gpu&${query.replace(/^\?/, '')}`);
    await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });
    check(await page.getAttribute('#engine', 'data-state') === 'gpu', `${name}: WebGPU engine`);
    await body(page, out);
    check(foreign.length === 0, `${name}: no requests beyond the page's own files${foreign.length ? `: ${foreign.join(' ')}` : ''}`);
  } finally {
    await browser.close();
  }
}

const trainedLoss = nativeTrainLoss(`${artifacts}/faults-native`);

await withPage('device-lost', '?test', async (page, out) => {
  await prepare(page, 'device-lost');
  await page.click('#train');
  await page.waitForFunction(() => Number(document.querySelector('#train-progress').dataset.checkpoint) >= 4, null, { timeout: 300_000 });
  check(await page.evaluate(() => window.svdtuneTest.loseDevice()) === true, 'device-lost: the device was ended');
  await page.waitForSelector('#recover-offer:not([hidden])', { timeout: 120_000 });
  const status = await page.textContent('#train-status');
  check(/device was lost/.test(status) && /checkpoint of step \d+ is kept/.test(status), `device-lost: "${status}"`);
  await page.screenshot({ path: `${out}/lost.png`, fullPage: true });
  await page.click('#recover');
  await page.waitForSelector('#chart[data-state]', { timeout: 600_000 });
  const log = JSON.parse(readFileSync(await download(page, '#dl-json', `${out}/training-log.json`), 'utf8'));
  const resumed = log.start.resumed_step;
  check(resumed >= 4 && log.steps[0].step === resumed + 1 && log.steps.at(-1).step === 12,
    `device-lost: continued on a new device after step ${resumed}, ran ${log.steps[0]?.step}..${log.steps.at(-1)?.step}`);
  const loss = Number(await page.textContent('#stat-full'));
  check(Math.abs(loss - trainedLoss) < 1e-3, `device-lost: loss over the file ${loss} = an uninterrupted run's ${trainedLoss}`);
  await page.screenshot({ path: `${out}/continued.png`, fullPage: true });
});

await withPage('storage-full', '?test', async (page, out) => {
  await prepare(page, 'storage-full');
  await page.evaluate(() => window.svdtuneTest.storageFull(true));
  await page.click('#train');
  await page.waitForFunction(() => /storage is full/.test(document.querySelector('#train-status').textContent), null, { timeout: 300_000 });
  const said = await page.textContent('#train-status');
  check(/checkpoint of step \d+ was not saved/.test(said) && /training goes on/.test(said), `storage-full: "${said}"`);
  await page.waitForSelector('#chart[data-state]', { timeout: 600_000 });
  check(await page.getAttribute('#chart', 'data-state') === 'done', 'storage-full: the run still finished');
  const zip = await download(page, '#dl-merged', `${out}/merged.zip`);
  check(statSync(zip).size > 10_000, `storage-full: the merged model still downloads (in memory): ${statSync(zip).size} bytes`);
  await page.screenshot({ path: `${out}/full.png`, fullPage: true });
});

// Matrices larger than a binding are held in row blocks (vocab_page.mjs trains one); at 128
// bytes not even two rows of the 32-wide embedding (256 bytes as f32) fit.
await withPage('small-gpu', '?max-binding=128', async (page, out) => {
  await page.setInputFiles('#model-folder', `${new URL('../fixtures/tiny-chat', import.meta.url).pathname}`);
  await page.waitForSelector('#model-status.bad', { timeout: 120_000 });
  const said = await page.textContent('#model-status');
  check(/model\.embed_tokens\.weight/.test(said) && /two of its rows/.test(said) && /256 bytes/.test(said) && /at most 128 bytes/.test(said) && /\?cpu/.test(said),
    `small-gpu: "${said}"`);
  await page.screenshot({ path: `${out}/too-large.png`, fullPage: true });
});

await withPage('small-memory', '?max-memory=1500000', async (page, out) => {
  const engine = await page.textContent('#engine');
  check(/Memory budget: 1\.5 MB/.test(engine), `small-memory: engine "${engine}"`);
  await prepare(page, 'small-memory');
  await page.waitForSelector('#memory-verdict.bad', { timeout: 120_000 });
  const said = await page.textContent('#memory-verdict');
  check(/not enough GPU memory for training batches of 4 × 64/.test(said) && /of at most 1\.5 MB available/.test(said)
    && /activations/.test(said) && await page.isDisabled('#train'), `small-memory: Train disabled, "${said}"`);
  await page.screenshot({ path: `${out}/refused.png`, fullPage: true });
  // The page's Content-Security-Policy: a same-origin script may run but may not eval, and an
  // inline script does not run at all. (Code sent by the test driver itself is exempt from the
  // policy, so the probe is a script the page loads.)
  await page.route(`${origin}/csp-probe.js`, (r) => r.fulfill({
    contentType: 'text/javascript',
    body: `const tries = [() => eval('1 + 1'), () => new Function('return 2')()];
      window.cspProbe = tries.map((f) => { try { f(); return 'ran'; } catch (e) { return e.name; } });`,
  }));
  await page.addScriptTag({ url: '/csp-probe.js' });
  const probe = await page.evaluate(() => window.cspProbe);
  check(probe?.[0] === 'EvalError' && probe?.[1] === 'EvalError', `csp: eval and new Function are refused (${probe})`);
  await page.addScriptTag({ content: 'window.inlineRan = true;' }).catch(() => {});
  check(await page.evaluate(() => window.inlineRan) === undefined, 'csp: an inline script does not run');
  await page.fill('#settings [name=batch_size]', '1');
  await page.dispatchEvent('#settings [name=batch_size]', 'change');
  await page.waitForSelector('#memory-verdict.ok', { timeout: 120_000 });
  const refusal = await page.textContent('#train-status');
  await page.click('#train');
  await page.waitForFunction((old) => {
    const text = document.querySelector('#train-status').textContent;
    return (text !== old && /Cannot/.test(text)) || /Memory:/.test(document.querySelector('#train-summary').textContent);
  }, refusal, { timeout: 120_000 });
  const status = await page.textContent('#train-summary');
  check(/Memory: \d+\.\d MB \(weights/.test(status), `small-memory: "${status}"`);
  await page.waitForSelector('#chart[data-state]', { timeout: 600_000 });
  check(await page.getAttribute('#chart', 'data-state') === 'done', 'small-memory: a batch of 1 × 64 trains on the same loaded model');
});

stop();
process.exit(failed() ? 1 : 0);
