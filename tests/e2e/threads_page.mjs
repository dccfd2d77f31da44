// End-to-end: the page's CPU engine on threads and its single-threaded fallback, in headless
// Chromium. Served cross-origin isolated (scripts/serve.py's default) the page loads the threaded
// build and says how many threads it runs on (navigator.hardwareConcurrency by default,
// `?threads=1` one); served without COOP/COEP (`--no-isolation`) it loads the single-threaded
// build and says why it runs on one thread. `?simd=plain` loads the threaded build without relaxed
// SIMD (what a browser without it, Safari, gets) and the line says so. All three train the tiny
// chat model the same 12 steps: their losses over the file agree within the CPU tests' float
// tolerance (the splits over the pool change the order of some sums, fused multiply-adds the
// rounding of some products, nothing else). Usage: node tests/e2e/threads_page.mjs
import { chromium } from 'playwright-core';
import { artifacts, baseArgs, check, failed, prepare, serveWeb, watch } from './page.mjs';

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: baseArgs });
const servers = [];

// Opens the page served by `server` at `query` on the CPU engine: {page, text, isolated, cores}.
async function open(context, origin, query) {
  const page = await context.newPage();
  await page.goto(`${origin}/${query}`);
  await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });
  const [isolated, cores] = await page.evaluate(() => [self.crossOriginIsolated, navigator.hardwareConcurrency]);
  return { page, text: await page.textContent('#engine'), isolated, cores };
}

// Trains the tiny model with the tests' settings; the loss over the file the page shows.
async function train(page, name) {
  await prepare(page, name);
  await page.click('#train');
  await page.waitForSelector('#chart[data-state]', { timeout: 300_000 });
  await page.waitForFunction(() => Number.isFinite(Number(document.querySelector('#stat-full')?.textContent)) && document.querySelector('#stat-full').textContent !== '', null, { timeout: 300_000 });
  return Number(await page.textContent('#stat-full'));
}

try {
  const context = await browser.newContext();
  const iso = await serveWeb();
  servers.push(iso);
  const one = await open(context, iso.origin, '?cpu&threads=1');
  check(one.isolated && /One thread \(the Threads setting\)\.$/.test(one.text) && await one.page.inputValue('#threads-choice') === '1',
    `?threads=1: "${one.text}"`);
  await one.page.close();

  const threaded = await open(context, iso.origin, '?cpu');
  const { errors } = watch(context, threaded.page, iso.origin);
  const want = threaded.cores > 1 ? `${threaded.cores} threads.` : 'One thread (the Threads setting).';
  check(threaded.isolated && threaded.text.endsWith(` ${want}`), `isolated: crossOriginIsolated ${threaded.isolated}, "${threaded.text}"`);
  const lossThreads = await train(threaded.page, 'threads');
  await threaded.page.close();

  const plainSimd = await open(context, iso.origin, '?cpu&simd=plain');
  check(plainSimd.isolated && /threads?\b.*\. Matrix products without fused multiply-adds \(\?simd=plain\)/.test(plainSimd.text),
    `?simd=plain: "${plainSimd.text}"`);
  const lossPlain = await train(plainSimd.page, 'threads-plain-simd');
  await plainSimd.page.close();

  const plain = await serveWeb({ isolated: false });
  servers.push(plain);
  const single = await open(context, plain.origin, '?cpu');
  check(!single.isolated && /One thread: this page is not cross-origin isolated/.test(single.text),
    `not isolated: crossOriginIsolated ${single.isolated}, "${single.text}"`);
  const lossSingle = await train(single.page, 'single');
  await single.page.screenshot({ path: `${artifacts}/threads-page-single.png` });
  for (const [name, loss] of [['threads', lossThreads], ['threads without relaxed SIMD', lossPlain]]) {
    const diff = Math.abs(loss - lossSingle);
    check(Number.isFinite(loss) && diff <= 1e-4 + 1e-4 * Math.abs(lossSingle),
      `loss over the file: ${name} ${loss}, one thread ${lossSingle} (|Δ| ${diff.toExponential(2)})`);
  }
  check(errors.length === 0, `no page errors${errors.length ? `: ${errors.join(' | ')}` : ''}`);
} finally {
  await browser.close();
  for (const s of servers) s.stop();
}
process.exit(failed() ? 1 : 0);
