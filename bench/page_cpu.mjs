// Benchmark of the page's CPU engine (`?cpu`, the threaded wasm build in web/pkg from
// scripts/build-web.sh: the page is served cross-origin isolated; `--threads N` sets its pool,
// default navigator.hardwareConcurrency) in headless Chromium (Playwright) and headless Firefox
// (geckodriver), beside the native CPU backend (`svdtune bench --backend cpu`) on the same model
// and batch, with the same number of threads.
//
// The page gets the model folder's files, a generated data file whose every record fills a
// sequence of T tokens, and settings for W + N steps of batch B × T (no eval split, no eval, no
// checkpoints); Train is clicked and each step's arrival on the page (`#stat-step`) is timed in the
// page with performance.now(). Printed per browser: the decomposition time the page reports, the
// median wall time of the N timed steps (after the W warm-up ones), tokens/s as B·T over that
// median (the native bench's definition), and the page's own tokens/s of the last step (tokens
// that are not padding). Then the native bench's lines with the page's thread count
// (RAYON_NUM_THREADS=N) and with one thread. `--single` serves the page without COOP/COEP, so it
// runs its single-threaded build (the native lines then still show both counts).
//
// Usage: node bench/page_cpu.mjs [--model DIR] [--batch 4] [--seq 128] [--steps 3] [--warmup 1]
//          [--rank-fraction 0.1] [--browsers chromium,firefox] [--threads N] [--single] [--no-native]
// Defaults: the tiny chat fixture (a quick run); for figures, a SmolLM2 folder (scripts/demo.sh
// writes web/demo/model). Needs web/pkg (scripts/build-web.sh), target/release/svdtune
// (cargo build --release) unless --no-native, /usr/bin/chromium, and for Firefox geckodriver
// and /usr/bin/firefox-esr.
import { chromium } from 'playwright-core';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { artifacts, baseArgs, freePort, serveWeb } from '../tests/e2e/page.mjs';

const root = new URL('../', import.meta.url).pathname;
const opts = { model: `${root}tests/fixtures/tiny-chat`, batch: 4, seq: 128, steps: 3, warmup: 1, 'rank-fraction': 0.1, browsers: 'chromium,firefox', native: true, threads: String(availableParallelism()), single: false };
for (let i = 2; i < process.argv.length; i += 1) {
  const a = process.argv[i];
  if (a === '--no-native') opts.native = false;
  else if (a === '--single') opts.single = true;
  else if (a.startsWith('--') && a.slice(2) in opts && i + 1 < process.argv.length) opts[a.slice(2)] = process.argv[++i];
  else {
    console.error(`page_cpu.mjs: unknown argument ${a} (see the header of bench/page_cpu.mjs)`);
    process.exit(2);
  }
}
const [B, T, N, W] = [opts.batch, opts.seq, opts.steps, opts.warmup].map(Number);
const model = resolve(opts.model);
const files = readdirSync(model).filter((f) => /\.(json|safetensors|jinja)$/.test(f)).map((f) => `${model}/${f}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Records of ~2·T words each, at least B·(W + N) of them: every sequence is full, no epoch ends.
const data = `${artifacts}/bench-page-cpu.jsonl`;
const words = 'the quick brown fox jumps over a lazy dog while seven small birds sing in old green trees'.split(' ');
const record = (i) => ({ text: Array.from({ length: 2 * T }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' ') });
writeFileSync(data, `${Array.from({ length: B * (W + N) + 8 }, (_, i) => JSON.stringify(record(i))).join('\n')}\n`);
const SETTINGS = {
  rank_fraction: String(opts['rank-fraction']), lr: '0.001', epochs: '1', max_steps: String(W + N), batch_size: String(B),
  seq_len: String(T), grad_accum: '1', eval_fraction: '0', eval_every: '0', checkpoint_every: '0', seed: '0',
};

// The page's side, the same for both browsers through `js(script)` (a function body returning a
// value) and `setFiles(css, paths)`.
async function measure(name, js, setFiles) {
  const until = async (script, ms, what) => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await js(script);
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(250);
    }
  };
  const engine = await until("return document.querySelector('#engine').dataset.state", 120_000, 'the engine');
  const engineText = await js("return document.querySelector('#engine').textContent");
  if (engine === 'gpu') throw new Error(`${name}: engine ${engine}, not the CPU engine: ${engineText}`);
  const t0 = Date.now();
  await setFiles('#model-files', files);
  const loaded = await until("const s = document.querySelector('#model-status'); return s.className && s.textContent", 600_000, 'the model');
  const loadS = (Date.now() - t0) / 1000;
  if (!loaded.startsWith('Loaded')) throw new Error(`${name}: model: ${loaded}`);
  await js(`for (const [k, v] of Object.entries(arguments[0])) {
    const el = document.querySelector('#settings [name=' + k + ']');
    el.value = v;
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
  }`, SETTINGS);
  await setFiles('#data-file', [data]);
  const read = await until("const s = document.querySelector('#data-status'); return s.className && s.textContent", 120_000, 'the data');
  if (!read.startsWith('Read')) throw new Error(`${name}: data: ${read}`);
  await js(`window.__bench = [];
    window.__status = [];
    new MutationObserver(() => window.__bench.push([performance.now(), document.querySelector('#stat-step').textContent]))
      .observe(document.querySelector('#stat-step'), { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => window.__status.push(document.querySelector('#train-status').textContent))
      .observe(document.querySelector('#train-status'), { childList: true, characterData: true, subtree: true });
    document.querySelector('#train').click();`);
  const state = await until("return document.querySelector('#chart').dataset.state", 3_600_000, 'the run');
  // The run's summary line ("Decomposed 211 layers in 7.3 s; …"; older pages: the status line).
  const summary = await js("return document.querySelector('#train-summary')?.textContent ?? ''");
  const decomposed = [summary, ...(await js('return window.__status'))].find((t) => /Decomposed/.test(t)) ?? '(no decomposition message)';
  const status = await js("return document.querySelector('#train-status').textContent");
  if (state !== 'done') throw new Error(`${name}: run ${state}: ${status}`);
  const marks = (await js('return window.__bench')).filter(([, s]) => /^\d+ \//.test(s));
  const times = marks.map(([t], i) => (i === 0 ? null : t - marks[i - 1][0])).slice(Math.max(1, W));
  if (times.length === 0) throw new Error(`${name}: no timed steps (${marks.length} step updates)`);
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const decompose = /in ([0-9.]+) s/.exec(decomposed)?.[1];
  console.log(`${name} (page CPU engine, ${engineText.trim()})`);
  console.log(`  load: ${loadS.toFixed(2)} s   decomposition: ${decompose} s   (${decomposed.split(';')[0]})`);
  console.log(`  training step: ${median.toFixed(1)} ms median (${times.length} steps: ${times.map((t) => t.toFixed(0)).join(', ')} ms), ${((B * T) / (median / 1000)).toFixed(0)} tokens/s (B·T over the median); the page shows ${await js("return document.querySelector('#stat-tps').textContent")} tokens/s`);
}

async function chromiumRun(origin) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: baseArgs });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`chromium page error: ${e}`));
    await page.goto(`${origin}/${query}`);
    await measure('chromium', (script, arg) => page.evaluate(([s, a]) => new Function(s).call(null, a), [script, arg]), (css, paths) => page.setInputFiles(css, paths));
  } finally {
    await browser.close();
  }
}

async function firefoxRun(origin) {
  const wdPort = await freePort();
  const gecko = spawn('geckodriver', ['--port', String(wdPort), '--host', '127.0.0.1'], { stdio: 'ignore' });
  await sleep(1500);
  const wd = async (method, path, body) => {
    const res = await fetch(`http://127.0.0.1:${wdPort}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${json.value?.message ?? res.status}`);
    return json.value;
  };
  let sid = null;
  try {
    sid = (await wd('POST', '/session', { capabilities: { alwaysMatch: { browserName: 'firefox', 'moz:firefoxOptions': { binary: '/usr/bin/firefox-esr', args: ['-headless'] }, timeouts: { script: 600_000 } } } })).sessionId;
    await wd('POST', `/session/${sid}/url`, { url: `${origin}/${query}` });
    const js = (script, arg) => wd('POST', `/session/${sid}/execute/sync`, { script, args: arg === undefined ? [] : [arg] });
    const setFiles = async (css, paths) => {
      const el = await wd('POST', `/session/${sid}/element`, { using: 'css selector', value: css });
      await wd('POST', `/session/${sid}/element/${Object.values(el)[0]}/value`, { text: paths.join('\n') });
    };
    await measure('firefox', js, setFiles);
  } finally {
    if (sid) await wd('DELETE', `/session/${sid}`).catch(() => {});
    gecko.kill();
  }
}

const query = `?cpu&threads=${opts.threads}`;
console.log(`model ${model}: batch ${B} × ${T} tokens, rank fraction ${opts['rank-fraction']}, ${W} warm-up + ${N} timed steps`);
let failed = false;
const { origin, stop } = await serveWeb({ isolated: !opts.single });
try {
  for (const b of opts.browsers.split(',')) {
    try {
      if (b === 'chromium') await chromiumRun(origin);
      else if (b === 'firefox') await firefoxRun(origin);
      else throw new Error(`unknown browser ${b} (chromium, firefox)`);
    } catch (e) {
      console.error(`${b}: FAILED ${e.message ?? e}`);
      failed = true;
    }
  }
} finally {
  stop();
}

if (opts.native) {
  const cli = `${process.env.CARGO_TARGET_DIR ?? `${root}target`}/release/svdtune`;
  if (!existsSync(cli)) {
    console.error(`native: ${cli} is missing (cargo build --release)`);
    failed = true;
  } else {
    const args = ['bench', '--model', model, '--backend', 'cpu', '--batch-size', String(B), '--seq-len', String(T), '--steps', String(N), '--warmup', String(W), '--rank-fraction', String(opts['rank-fraction'])];
    for (const [label, env] of [[`${opts.threads} threads`, { RAYON_NUM_THREADS: opts.threads }], ['one thread', { RAYON_NUM_THREADS: '1' }]]) {
      const out = execFileSync(cli, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
      console.log(`native svdtune bench --backend cpu (${label})`);
      for (const line of out.split('\n').filter((l) => /^(load|training step)/.test(l))) console.log(`  ${line}`);
    }
  }
}
process.exit(failed ? 1 : 0);
