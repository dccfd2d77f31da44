// End-to-end: every phase of a run on the training page is visible, counted and cancellable
// (headless Chromium, CPU engine, the tiny chat model with batches of one row so that the eval
// split has several batches). Before Train the page shows the estimated duration; Stop during
// the decomposition leaves a model that trains again; Stop during the evaluation before the first
// step ends the run with no step; the status names each evaluation with its batch counts; while
// the loss over the file runs, the bar is not full, the time left is not 0 and a Generate answers
// before the pass ends; the field says what the loss covers. The page's `?test` hook makes the
// engine slow (at least N ms per layer, loss batch and step) so that the test can act mid-phase.
// Prints how close the estimate came to an unslowed run.
// Usage: node tests/e2e/phases_page.mjs
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { artifacts, baseArgs, check, download, failed, prepare, serveWeb, watch } from './page.mjs';

const { origin, stop } = await serveWeb();
const out = `${artifacts}/phases-page`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...baseArgs, '--disable-webgpu'] });

const status = (page) => page.textContent('#train-status');
const waitStatus = (page, re, timeout = 120_000) => page.waitForFunction(
  (src) => new RegExp(src).test(document.querySelector('#train-status').textContent), re.source, { timeout });
const slow = (page, ms) => page.evaluate((v) => window.svdtuneTest.slow(v), ms);

try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 1400 } });
  const page = await context.newPage();
  const { errors, foreign } = watch(context, page, origin);
  await page.goto(`${origin}/?test`);
  await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });
  await prepare(page, 'phases');
  // One row per batch: 5 eval batches, 24 batches over the file.
  await page.fill('#settings [name=batch_size]', '1');
  await page.dispatchEvent('#settings [name=batch_size]', 'change');
  await page.waitForFunction(() => /5 eval \(5 batches\)/.test(document.querySelector('#data-info').textContent), null, { timeout: 60_000 });

  // The estimate, before Train.
  await page.waitForFunction(() => document.querySelector('#estimate').textContent.startsWith('Estimated'), null, { timeout: 60_000 });
  const estimate = await page.textContent('#estimate');
  check(/^Estimated: about .+ on this CPU engine \(decomposition ~.+, 12 steps × ~.+, evals ~.+, loss over the file ~.+\)\.$/.test(estimate), `the estimate before Train: "${estimate}"`);
  await page.screenshot({ path: `${out}/estimate.png`, fullPage: true });
  await page.selectOption('#settings [name=full_loss]', '0');
  await page.waitForFunction((before) => {
    const t = document.querySelector('#estimate').textContent;
    return t.startsWith('Estimated') && t !== before;
  }, estimate, { timeout: 60_000 });
  const without = await page.textContent('#estimate');
  check(!/loss over the file/.test(without), `the estimate follows the settings: "${without}"`);
  await page.selectOption('#settings [name=full_loss]', '64');

  // Stop during the decomposition: the model stays loaded and trains again below.
  await slow(page, 400);
  await page.click('#train');
  await waitStatus(page, /^Decomposing .+ \(\d+ of \d+\)…$/);
  const decomposing = await status(page);
  check(await page.isEnabled('#stop'), `Stop is enabled during the decomposition ("${decomposing}")`);
  await page.click('#stop');
  await waitStatus(page, /^Stopped during the decomposition/);
  const layer = Number(/\((\d+) of/.exec(decomposing)[1]);
  check(layer < 15 && await page.isEnabled('#train'), `stopped during the decomposition at layer ${layer}: "${await status(page)}"; Train is enabled`);

  // Stop during the evaluation before the first step: the run ends with no step.
  await page.click('#train');
  await waitStatus(page, /^Evaluating before the first step: batch [1-3] of 5$/);
  check(true, `the first evaluation is shown: "${await status(page)}"`);
  await page.screenshot({ path: `${out}/first-eval.png`, fullPage: true });
  await page.click('#stop');
  await page.waitForSelector('#chart[data-state]', { timeout: 120_000 });
  check(await page.getAttribute('#chart', 'data-state') === 'stopped' && await page.getAttribute('#chart', 'data-steps') === '0' && await page.isEnabled('#train'),
    `Stop during the first evaluation ends the run: "${await status(page)}", ${await page.getAttribute('#chart', 'data-steps')} steps, full loss "${await page.textContent('#stat-full-of')}"`);

  // A whole run: evaluations with their batch counts, then the loss over the file, during which
  // the bar is not full, the time left is not 0 and a Generate answers.
  await page.click('#train');
  await waitStatus(page, /^Evaluating before the first step: batch \d of 5$/);
  await page.waitForFunction(() => document.querySelector('#stat-eval').textContent.endsWith('(step 0)'), null, { timeout: 60_000 });
  check(true, `the first eval loss is shown once known: ${await page.textContent('#stat-eval')}`);
  await waitStatus(page, /^Evaluating after step 4: batch [1-4] of 5$/);
  const etaEval = await page.textContent('#stat-eta');
  check(etaEval !== '–' && etaEval !== '0 s', `the status names the evaluation after step 4: "${await status(page)}", time left ${etaEval}`);
  await waitStatus(page, /^Loss over the file: batch [1-9] of 24 \(24 of 24 examples\)$/, 300_000);
  const bar = await page.$eval('#train-progress', (p) => ({ value: p.value, max: p.max }));
  const eta = await page.textContent('#stat-eta');
  check(bar.value < bar.max && eta !== '0 s' && eta !== '–', `during the loss over the file ("${await status(page)}") the bar is at ${bar.value} of ${bar.max}, time left ${eta}`);
  check(await page.isEnabled('#dl-merged') && await page.isEnabled('#generate'), 'downloads and Generate are enabled during the loss over the file');
  await page.screenshot({ path: `${out}/final-pass.png`, fullPage: true });
  await page.fill('#max-new', '8');
  await page.click('#generate');
  await page.waitForFunction(() => !['', '…'].includes(document.querySelector('#answer-current').textContent), null, { timeout: 120_000 });
  const during = await status(page);
  check(/^Loss over the file: batch \d+ of 24/.test(during) && !(await page.getAttribute('#chart', 'data-state')),
    `a Generate answered before the pass ended ("${during}"): ${JSON.stringify(await page.textContent('#answer-current'))}`);
  await page.waitForSelector('#chart[data-state]', { timeout: 300_000 });
  const full = Number(await page.textContent('#stat-full'));
  const of = await page.textContent('#stat-full-of');
  check(await page.getAttribute('#chart', 'data-state') === 'done' && Number.isFinite(full) && of === 'on all 24 examples',
    `the run is done, loss over the file ${full} ${of}; bar ${await page.$eval('#train-progress', (p) => `${p.value}/${p.max}`)}`);
  await page.screenshot({ path: `${out}/done.png`, fullPage: true });

  // How close the estimate comes on an unslowed run.
  await slow(page, 0);
  const before = await page.textContent('#estimate');
  await page.fill('#settings [name=batch_size]', '4');
  await page.dispatchEvent('#settings [name=batch_size]', 'change');
  await page.waitForFunction(() => /\(2 batches\)/.test(document.querySelector('#data-info').textContent), null, { timeout: 60_000 });
  // The estimate for batches of 4 (asked once the data is read again).
  await page.waitForFunction((old) => {
    const t = document.querySelector('#estimate').textContent;
    return t.startsWith('Estimated') && t !== old;
  }, before, { timeout: 60_000 });
  await page.click('#train');
  await page.waitForFunction(() => document.querySelector('#chart').dataset.state === 'done', null, { timeout: 300_000 });
  const log = JSON.parse(readFileSync(await download(page, '#dl-json', `${out}/training-log.json`), 'utf8'));
  check(log.estimate && log.elapsed_ms > 0 && log.options.batch_size === 4, `estimate ${Math.round(log.estimate?.total_ms)} ms (decomposition ${Math.round(log.estimate?.decompose_ms)} ms, step ${Math.round(log.estimate?.step_ms)} ms) vs the run's ${Math.round(log.elapsed_ms)} ms (decomposition ${Math.round(log.start.decompose_ms)} ms, mean step ${Math.round(log.steps.reduce((a, s) => a + s.ms, 0) / log.steps.length)} ms)`);
  check(errors.length === 0, `no page errors${errors.length ? `: ${errors.join(' | ')}` : ''}`);
  check(foreign.length === 0, `no requests beyond the page's own files${foreign.length ? `: ${foreign.join(' ')}` : ''}`);
} catch (e) {
  check(false, `FAIL: ${e.stack ?? e}`);
} finally {
  await browser.close();
  stop();
}
process.exit(failed() ? 1 : 0);
