// End-to-end: the training page (release build from scripts/build-web.sh) in headless Chromium.
// Serves web/ on a free port, gives the page the tiny chat model folder and its data through the
// file pickers, trains 12 steps (pausing and resuming on the way), checks the chart and the loss,
// generates, downloads the merged model (zip), the adapter and the training log, then checks the
// download with the native CLI (`svdtune eval` on the unzipped folder gives the page's loss over
// the whole file, `svdtune generate` its answer) and against the input (every merged weight
// differs by an update of rank ≤ q), and stops a second run. Then reloads the page mid-training
// and resumes from the checkpoint in browser storage, then runs with WebGPU disabled (CPU notice,
// broken files named, training still works). Fails on any network request other than the page's
// own files. Screenshots and downloads go to artifacts/.
// Usage: node tests/e2e/train_page.mjs   (needs target/release/svdtune: cargo build --release)
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SETTINGS, cli, evalLoss, fixture, nativeTrainLoss } from './native.mjs';
import { artifacts, baseArgs, check, download, failed, prepare, serveWeb, waitForAnswers, watch } from './page.mjs';
import { compareMerged } from './rank.mjs';

const { origin, stop } = await serveWeb();
const PROMPT = 'What is your name?';

// svdtune generate's greedy answer from a model folder (the page's prompt and token limit).
function generate(model) {
  const out = execFileSync(cli, ['generate', '--model', model, '--prompt', PROMPT, '--max-new-tokens', '64', '--backend', 'cpu'], { stdio: ['ignore', 'pipe', 'ignore'] });
  return out.toString().replace(/\n$/, '');
}

// Broken input gets a message that names the file and what is wrong, then good input works.
async function badInputs(page, name, out) {
  await page.setInputFiles('#model-files', [`${fixture}/config.json`]);
  await page.waitForSelector('#model-status.bad', { timeout: 60_000 });
  const model = await page.textContent('#model-status');
  check(/tokenizer\.json/.test(model) && /missing/.test(model), `${name}: a folder without its tokenizer: "${model}"`);
  await prepare(page, name);
  const bad = `${out}/broken.jsonl`;
  writeFileSync(bad, '{"messages": [{"role": "user", "content": "hi"}]}\nnot json\n');
  await page.setInputFiles('#data-file', bad);
  await page.waitForSelector('#data-status.bad', { timeout: 60_000 });
  const data = await page.textContent('#data-status');
  check(/broken\.jsonl/.test(data) && /line 2/.test(data), `${name}: a file with no usable record: "${data}"`);
  check(await page.isDisabled('#train'), `${name}: Train is disabled without usable data`);
  await page.setInputFiles('#data-file', `${fixture}/data.jsonl`);
  await page.waitForSelector('#data-status.ok', { timeout: 60_000 });
}

async function run(name, args, expectState, full) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...baseArgs, ...args] });
  const out = `${artifacts}/train-page-${name}`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  try {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 1200 } });
    const page = await context.newPage();
    const { errors, foreign } = watch(context, page, origin);
    // ?gpu: WebGPU even on headless Chromium's software adapter (SwiftShader).
    await page.goto(`${origin}/${expectState === 'gpu' ? '?gpu' : ''}`);
    await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });
    const engineState = await page.getAttribute('#engine', 'data-state');
    check(engineState === expectState, `${name}: engine ${engineState} "${await page.textContent('#engine')}"`);

    if (full) await prepare(page, name);
    else await badInputs(page, name, out);
    await page.click('#train');
    await page.waitForFunction(() => Number(document.querySelector('#chart').dataset.steps) >= 2, null, { timeout: 300_000 });
    await page.screenshot({ path: `${out}/training.png`, fullPage: true });
    if (full) {
      await page.click('#pause');
      const ack = await page.textContent('#train-status');
      check(/^(Pausing after this step|Paused)/.test(ack) && await page.isDisabled('#pause'), `${name}: Pause is acknowledged at once ("${ack}")`);
      await page.waitForFunction(() => document.querySelector('#train-status').textContent.startsWith('Paused'), null, { timeout: 60_000 });
      const at = await page.getAttribute('#chart', 'data-steps');
      await page.waitForTimeout(2500);
      const later = await page.getAttribute('#chart', 'data-steps');
      check(at === later && await page.isEnabled('#resume') && await page.isDisabled('#pause'), `${name}: paused at step ${at}, still ${later} after 2.5 s`);
      await page.click('#resume');
    }
    await page.waitForSelector('#chart[data-state]', { timeout: 600_000 });
    const status = await page.textContent('#train-status');
    check(await page.getAttribute('#chart', 'data-state') === 'done', `${name}: run "${status}"`);
    const steps = Number(await page.getAttribute('#chart', 'data-steps'));
    check(steps === 12, `${name}: chart has ${steps} steps, ${await page.getAttribute('#chart', 'data-evals')} evals`);

    const log = JSON.parse(readFileSync(await download(page, '#dl-json', `${out}/training-log.json`), 'utf8'));
    const losses = log.steps.map((s) => s.loss);
    const head = (losses[0] + losses[1]) / 2;
    const tail = (losses.at(-1) + losses.at(-2)) / 2;
    check(tail < head - 0.5, `${name}: training loss ${head.toFixed(3)} → ${tail.toFixed(3)}`);
    check(log.evals.length >= 2 && log.evals.at(-1).loss < log.evals[0].loss, `${name}: eval loss ${log.evals.map((e) => `${e.step}:${e.loss.toFixed(3)}`).join(' ')}`);
    const csv = readFileSync(await download(page, '#dl-csv', `${out}/training-log.csv`), 'utf8').trim().split('\n');
    check(csv.length === 13 && csv[0].startsWith('step,epoch,loss,eval_loss'), `${name}: CSV log ${csv.length - 1} rows`);
    const pageLoss = Number(await page.textContent('#stat-full'));

    await page.fill('#prompt', PROMPT);
    await page.fill('#max-new', '64');
    await page.click('#generate');
    await waitForAnswers(page);
    const original = await page.textContent('#answer-original');
    const current = await page.textContent('#answer-current');
    const native = generate(fixture);
    check(original === native, `${name}: the page's original answer is svdtune generate's on the input folder: ${JSON.stringify(original)}`);
    check(current !== original && !current.startsWith('Error'), `${name}: the current answer differs: ${JSON.stringify(current)}`);
    await page.screenshot({ path: `${out}/trained.png`, fullPage: true });

    if (full) {
      const zip = await download(page, '#dl-merged', `${out}/merged.zip`);
      const dir = `${out}/merged`;
      execFileSync('unzip', ['-q', '-o', zip, '-d', dir]);
      const files = execFileSync('ls', [dir]).toString().trim().split('\n');
      check(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'].every((f) => files.includes(f)), `${name}: zip holds ${files.join(', ')}`);
      const cmp = compareMerged(`${fixture}/model.safetensors`, `${dir}/model.safetensors`, Number(SETTINGS.rank_fraction));
      const bad = cmp.layers.filter((l) => !l.changed || l.rank > l.q);
      check(cmp.layers.length === 15 && bad.length === 0 && cmp.embedUnchanged,
        `${name}: ${cmp.layers.length} merged weights differ from the input by rank ≤ q (${cmp.layers.map((l) => `${l.rank}/${l.q}`).join(' ')}), embedding unchanged${bad.length ? `; bad: ${bad.map((l) => l.name).join(', ')}` : ''}`);
      const cliLoss = evalLoss(dir);
      check(Math.abs(cliLoss - pageLoss) < 1e-3, `${name}: page loss over the file ${pageLoss} = svdtune eval on the download ${cliLoss}`);
      const native = nativeTrainLoss(`${out}/native`);
      check(Math.abs(native - pageLoss) < 1e-3, `${name}: page loss = svdtune train + eval with the same settings ${native}`);
      check(generate(dir) === current, `${name}: the page's current answer is svdtune generate's on the download`);
      const adapter = await download(page, '#dl-adapter', `${out}/adapter.zip`);
      const listing = execFileSync('unzip', ['-l', adapter]).toString();
      check(/adapter_config\.json/.test(listing) && /adapter_model\.safetensors/.test(listing), `${name}: adapter zip`);
    }
    if (full) {
      await page.click('#train');
      await page.waitForFunction(() => Number(document.querySelector('#chart').dataset.steps) >= 1, null, { timeout: 300_000 });
      await page.click('#stop');
      await page.waitForSelector('#chart[data-state]', { timeout: 300_000 });
      const stopped = await page.getAttribute('#chart', 'data-state');
      const ran = Number(await page.getAttribute('#chart', 'data-steps'));
      const full = Number(await page.textContent('#stat-full'));
      check(stopped === 'stopped' && ran < 12 && Number.isFinite(full) && await page.isEnabled('#train'),
        `${name}: a second run stopped after ${ran} steps, loss over the file ${full}`);
    }
    await page.setViewportSize({ width: 360, height: 800 });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    await page.screenshot({ path: `${out}/narrow.png`, fullPage: true });
    check(width <= 360, `${name}: no horizontal scrolling at 360 px (page is ${width} px wide)`);
    check(errors.length === 0, `${name}: no page errors${errors.length ? `: ${errors.join(' | ')}` : ''}`);
    check(foreign.length === 0, `${name}: no requests beyond the page's own files${foreign.length ? `: ${foreign.join(' ')}` : ''}`);
    return pageLoss;
  } finally {
    await browser.close();
  }
}

// Reloads the page once a checkpoint is in browser storage, resumes from it with the same files
// and checks the resumed run ends where an uninterrupted one does (`expectLoss`).
async function resumeRun(name, args, expectLoss) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...baseArgs, ...args] });
  const out = `${artifacts}/train-page-${name}`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  try {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 1200 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${origin}/?gpu`);
    await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });
    check(await page.isHidden('#resume-offer'), `${name}: no resume offer on a fresh profile`);
    await prepare(page, name);
    await page.click('#train');
    await page.waitForFunction(() => Number(document.querySelector('#train-progress').dataset.checkpoint) >= 4, null, { timeout: 300_000 });
    await page.reload();
    await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });
    await page.waitForSelector('#resume-offer:not([hidden])', { timeout: 30_000 });
    const offer = await page.textContent('#resume-text');
    const saved = Number(/after step (\d+)/.exec(offer)?.[1]);
    check(saved === 4 || saved === 8, `${name}: offered "${offer}"`);
    await prepare(page, name);
    await page.screenshot({ path: `${out}/offer.png`, fullPage: true });
    await page.click('#resume-checkpoint');
    await page.waitForSelector('#chart[data-state]', { timeout: 600_000 });
    const log = JSON.parse(readFileSync(await download(page, '#dl-json', `${out}/training-log.json`), 'utf8'));
    check(log.start.resumed_step === saved && log.steps[0].step === saved + 1 && log.steps.length === 12 - saved,
      `${name}: resumed after step ${log.start.resumed_step}, ran steps ${log.steps[0]?.step}..${log.steps.at(-1)?.step}`);
    const loss = Number(await page.textContent('#stat-full'));
    check(Math.abs(loss - expectLoss) < 1e-5, `${name}: loss over the file ${loss} equals the uninterrupted run's ${expectLoss}`);
    await page.screenshot({ path: `${out}/resumed.png`, fullPage: true });
    check(errors.length === 0, `${name}: no page errors${errors.length ? `: ${errors.join(' | ')}` : ''}`);
  } finally {
    await browser.close();
  }
}

try {
  const loss = await run('webgpu', ['--enable-unsafe-webgpu'], 'gpu', true);
  await resumeRun('resume', ['--enable-unsafe-webgpu'], loss);
  await run('no-webgpu', ['--disable-webgpu'], 'no-gpu', false);
} catch (e) {
  check(false, `FAIL: ${e.stack ?? e}`);
} finally {
  stop();
}
process.exit(failed() ? 1 : 0);
