// End-to-end: the page's "Merged model (.gguf)" download (headless Chromium, CPU engine). The tiny
// chat model trains 2 steps; the merged zip with Precision BF16 holds the f32 zip's tensors rounded
// to bf16; then the page's GGUF (Q8_0 and F16) is checked against the native
// exporter on the page's own merged zip (`svdtune export-gguf` on the unzipped folder gives the
// same bytes) and read back by the native CLI (`svdtune inspect FILE.gguf`).
// Usage: node tests/e2e/gguf_page.mjs   (after scripts/build-web.sh; needs target/release/svdtune)
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cli } from './native.mjs';
import { artifacts, baseArgs, check, download, failed, prepare, safetensors, serveWeb, watch } from './page.mjs';

const out = `${artifacts}/gguf-page`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const { origin, stop } = await serveWeb();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: baseArgs });
try {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const { errors, foreign } = watch(context, page, origin);
  await page.goto(`${origin}/?cpu`);
  await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });
  await prepare(page, 'gguf');
  await page.fill('#settings [name=max_steps]', '2');
  await page.selectOption('#settings [name=full_loss]', '0');
  check(await page.isDisabled('#dl-gguf'), 'the GGUF download waits for a trained step');
  await page.click('#train');
  await page.waitForSelector('#chart[data-state]', { timeout: 600_000 });
  check(await page.getAttribute('#chart', 'data-state') === 'done', `run: ${await page.textContent('#train-status')}`);

  // The page's merged folder, exported natively: the reference for the page's GGUF files.
  const zip = await download(page, '#dl-merged', `${out}/merged.zip`);
  const folder = `${out}/tiny-chat`; // the page names the GGUF's model after the loaded folder
  execFileSync('unzip', ['-q', '-o', zip, '-d', folder]);
  // The same merged model with its tensors in bf16: each value the f32 one rounded to nearest even.
  await page.selectOption('#merged-dtype', 'bf16');
  const zip16 = await download(page, '#dl-merged', `${out}/merged-bf16.zip`);
  const folder16 = `${out}/bf16`;
  execFileSync('unzip', ['-q', '-o', zip16, '-d', folder16]);
  const [f32s, bf16s] = [safetensors(`${folder}/model.safetensors`), safetensors(`${folder16}/model.safetensors`)];
  const names = Object.keys(f32s);
  const same = names.filter((n) => {
    const [a, b] = [f32s[n], bf16s[n]];
    if (a.dtype !== 'F32' || b?.dtype !== 'BF16' || a.data.length !== 2 * b.data.length) return false;
    for (let i = 0; i < a.data.length / 4; i++) {
      const bits = a.data.readUInt32LE(4 * i);
      const rounded = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
      if (rounded !== b.data.readUInt16LE(2 * i)) return false;
    }
    return true;
  });
  check(names.length > 5 && same.length === names.length, `bf16 zip: ${same.length} of ${names.length} tensors are the f32 zip's rounded to bf16`);
  const config16 = JSON.parse(readFileSync(`${folder16}/config.json`, 'utf8'));
  check(config16.torch_dtype === 'bfloat16', `bf16 zip: config.json says ${config16.torch_dtype}`);
  await page.selectOption('#merged-dtype', 'source');
  for (const type of ['q8_0', 'f16']) {
    await page.selectOption('#gguf-type', type);
    const file = await download(page, '#dl-gguf', `${out}/page-${type}.gguf`);
    const status = await page.textContent('#dl-status');
    check(new RegExp(`GGUF: tiny-chat-svdtune-${type}\\.gguf, llama, \\d+ tensors, with its tokenizer`).test(status), `${type}: "${status}"`);
    const native = `${out}/native-${type}.gguf`;
    execFileSync(cli, ['export-gguf', '--model', folder, '--out', native, '--type', type], { stdio: 'ignore' });
    const a = readFileSync(file);
    const b = readFileSync(native);
    check(a.length > 1000 && a.equals(b), `${type}: the page's GGUF (${a.length} bytes) is svdtune export-gguf's on the merged folder (${b.length} bytes)`);
    const inspect = execFileSync(cli, ['inspect', file], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    check(/llama/.test(inspect), `${type}: svdtune inspect reads it back: ${inspect.split('\n').slice(0, 2).join(' / ')}`);
  }
  check(errors.length === 0, `no page errors (${errors.join(' | ') || 'none'})`);
  check(foreign.length === 0, `no foreign requests (${foreign.join(', ') || 'none'})`);
} finally {
  await browser.close();
  stop();
}
process.exit(failed() ? 1 : 0);
