// What the page tests share: the static server for web/, pass/fail reporting, the Chromium
// launch flags, downloads, reading a safetensors file, and giving the training page the tiny chat
// model and its data.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { SETTINGS, fixture } from './native.mjs';

export const root = new URL('../../', import.meta.url).pathname;
export const artifacts = `${root}artifacts`;
mkdirSync(artifacts, { recursive: true });

// Chromium as a test browser: no sandbox (root), no background connections (closed network).
export const baseArgs = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export const freePort = () => new Promise((resolve) => {
  const srv = createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address();
    srv.close(() => resolve(port));
  });
});

// Serves web/ with scripts/serve.py (the server scripts/run.sh uses, so the tests see the same
// cross-origin isolation headers, so the page runs its threaded engine) on a port the system
// chooses; resolves to {origin, stop} once it listens. `options`: `{isolated: false}` leaves the
// COOP/COEP headers out (the page then falls back to its single-threaded engine); `extra` (or an
// array given directly) holds more arguments for serve.py (like `--hub ORIGIN`).
export async function serveWeb(options = {}) {
  const { extra = [], isolated = true } = Array.isArray(options) ? { extra: options } : options;
  const flags = [...(isolated ? [] : ['--no-isolation']), ...extra];
  const server = spawn('python3', [`${root}scripts/serve.py`, '--port', '0', '--quiet', ...flags, `${root}web`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      const m = /http:\/\/localhost:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    server.on('exit', (code) => reject(new Error(`scripts/serve.py ended (${code}) before it listened`)));
  });
  return { origin: `http://127.0.0.1:${port}`, stop: () => server.kill() };
}

let failures = 0;
// Prints one result line; the process fails at the end if any check did.
export function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures += 1;
  return ok;
}
export const failed = () => failures > 0;

// Clicks `button` and saves the download it starts to `to`.
export async function download(page, button, to) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), page.click(button)]);
  await dl.saveAs(to);
  return to;
}

// Gives the page the model folder, the settings and the data, and checks what it shows.
export async function prepare(page, name) {
  await page.setInputFiles('#model-folder', fixture);
  await page.waitForSelector('#model-status.ok, #model-status.bad', { timeout: 120_000 });
  check(await page.isVisible('#model-status.ok'), `${name}: model "${await page.textContent('#model-status')}"`);
  const info = (await page.innerText('#model-info')).replace(/\s+/g, ' ');
  check(/llama/.test(info) && /F32/.test(info), `${name}: model info ${info}`);
  for (const [field, value] of Object.entries(SETTINGS)) await page.fill(`#settings [name=${field}]`, value);
  await page.setInputFiles('#data-file', `${fixture}/data.jsonl`);
  await page.waitForSelector('#data-status.ok, #data-status.bad', { timeout: 60_000 });
  const data = (await page.innerText('#data-info')).replace(/\s+/g, ' ');
  check(/24 of 24 records/.test(data), `${name}: data ${data}`);
  const plan = await page.$$eval('#plan-compare tbody tr', (trs) => trs.map((tr) => tr.innerText.replace(/\s+/g, ' ')));
  check(plan.length === 4 && /LoRA r=8/.test(plan[1]), `${name}: plan ${plan.join(' | ')}`);
}

// Waits for a Generate to finish: neither answer still streaming (aria-busy) and the current one
// in (an error shows there, with the original one empty).
export async function waitForAnswers(page, timeout = 300_000) {
  await page.waitForFunction(() => {
    const [original, current] = ['original', 'current'].map((w) => document.querySelector(`#answer-${w}`));
    return !original.hasAttribute('aria-busy') && !current.hasAttribute('aria-busy') && !['', '…'].includes(current.textContent);
  }, null, { timeout });
}

// Collects page errors and requests to anything but the page's own origin.
export function watch(context, page, origin) {
  const errors = [];
  const foreign = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  context.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('blob:') && !url.startsWith('data:')) foreign.push(url);
  });
  return { errors, foreign };
}

// A safetensors file's tensors: {name: {dtype, shape, data: Buffer}}.
export function safetensors(path) {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  delete header.__metadata__;
  return Object.fromEntries(Object.entries(header).map(([name, t]) =>
    [name, { dtype: t.dtype, shape: t.shape, data: bytes.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]) }]));
}
