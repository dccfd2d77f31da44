// End-to-end: the engine-check page (check.html, built by scripts/build-web.sh) in headless
// Chromium with WebGPU. Serves web/ on a free port, opens the page, waits for the engine check and
// fails unless every GPU op matches the CPU reference. Also checks the page with WebGPU disabled
// shows the CPU notice.
// Screenshots go to artifacts/. Usage: node tests/e2e/engine_check.mjs
import { chromium } from 'playwright-core';
import { artifacts, baseArgs, serveWeb } from './page.mjs';

const { origin, stop } = await serveWeb();
let failed = false;

async function run(name, args, expectState) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...baseArgs, ...args] });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`${origin}/check.html`);
    await page.waitForSelector('#status[data-state]', { timeout: 300_000 });
    const state = await page.getAttribute('#status', 'data-state');
    const text = await page.textContent('#status');
    await page.screenshot({ path: `${artifacts}/engine-check-${name}.png`, fullPage: true });
    const ok = state === expectState && errors.length === 0;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: state=${state} "${text}"${errors.length ? ` errors: ${errors.join(' | ')}` : ''}`);
    if (state === 'ok') {
      const rows = await page.$$eval('#results tbody tr', (trs) => trs.map((tr) => tr.innerText.replace(/\s+/g, ' ')));
      rows.forEach((r) => console.log(`     ${r}`));
    }
    failed ||= !ok;
  } finally {
    await browser.close();
  }
}

try {
  await run('webgpu', ['--enable-unsafe-webgpu'], 'ok');
  await run('no-webgpu', ['--disable-webgpu'], 'no-gpu');
} catch (e) {
  console.error(`FAIL: ${e}`);
  failed = true;
} finally {
  stop();
}
process.exit(failed ? 1 : 0);
