// End-to-end: a model with a real vocabulary size on the page's WebGPU engine (headless Chromium,
// `?gpu`: SwiftShader). The tiny chat model is rewritten here in bf16 with its embedding grown to
// Qwen's 151,936 rows (the extra rows random, tied head): the page loads it keeping the bf16
// weights packed, shows its memory table before the weights load (weights as bf16: about 2 bytes
// per value), trains two steps (each step's loss over the 152 k-token softmax), and downloads the
// merged model, whose safetensors are bf16 with the grown embedding and an explicit lm_head.
// The page is opened with `?max-binding=8388608`, as an adapter whose storage bindings hold at
// most 8 MiB: the 9.7 MB bf16 embedding and head (19.4 MB as f32 for the decomposition and the
// merge) are held in row blocks of 65,536 rows, and so are the decomposition's tall products
// ([151,936, q + 8] f32) and the head's U: the splits a 152 k vocabulary forces on adapters that
// bind 128–256 MB.
// Usage: node tests/e2e/vocab_page.mjs   (after scripts/build-web.sh)
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SETTINGS, fixture } from './native.mjs';
import { artifacts, baseArgs, check, download, failed, safetensors, serveWeb, watch } from './page.mjs';

const VOCAB = 151_936;
const out = `${artifacts}/vocab-page`;
const model = `${out}/vocab-bf16`;
rmSync(out, { recursive: true, force: true });
mkdirSync(model, { recursive: true });

// f32 bits → bf16 bits, rounded to nearest even.
const bf16 = (bits) => ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;

// The tiny chat model in bf16, its embedding grown to VOCAB rows of small random values.
function writeModel() {
  const tensors = safetensors(`${fixture}/model.safetensors`);
  let seed = 12345;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed / 2 ** 32 - 0.5) * 0.1;
  };
  const header = {};
  const parts = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const grow = name === 'model.embed_tokens.weight';
    const shape = grow ? [VOCAB, t.shape[1]] : t.shape;
    const count = shape.reduce((a, b) => a * b, 1);
    const data = Buffer.alloc(2 * count);
    const given = t.data.length / 4;
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    for (let i = 0; i < count; i++) {
      f32[0] = i < given ? t.data.readFloatLE(4 * i) : random();
      data.writeUInt16LE(bf16(u32[0]), 2 * i);
    }
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + data.length] };
    parts.push(data);
    offset += data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(`${model}/model.safetensors`, Buffer.concat([len, Buffer.from(json), ...parts]));
  const config = JSON.parse(readFileSync(`${fixture}/config.json`, 'utf8'));
  writeFileSync(`${model}/config.json`, JSON.stringify({ ...config, vocab_size: VOCAB, dtype: 'bfloat16' }, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) copyFileSync(`${fixture}/${f}`, `${model}/${f}`);
  return { hidden: config.hidden_size, params: count(header) };
}
const count = (header) => Object.values(header).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);

const { hidden, params } = writeModel();
const { origin, stop } = await serveWeb();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...baseArgs, '--enable-unsafe-webgpu'] });
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 1400 } });
  const page = await context.newPage();
  const { errors, foreign } = watch(context, page, origin);
  await page.goto(`${origin}/?gpu&max-binding=${8 << 20}`);
  await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });
  check(await page.getAttribute('#engine', 'data-state') === 'gpu', `WebGPU: "${await page.textContent('#engine')}"`);
  for (const [field, value] of Object.entries(SETTINGS)) await page.fill(`#settings [name=${field}]`, value);
  await page.fill('#settings [name=max_steps]', '2');
  await page.fill('#settings [name=eval_fraction]', '0');
  await page.selectOption('#settings [name=full_loss]', '0');

  await page.setInputFiles('#model-folder', model);
  await page.waitForSelector('#model-status.ok, #model-status.bad', { timeout: 300_000 });
  check(await page.isVisible('#model-status.ok'), `model: "${await page.textContent('#model-status')}"`);
  const info = (await page.innerText('#model-info')).replace(/\s+/g, ' ');
  check(/BF16/.test(info) && /151,936|151936/.test(info), `model info names bf16 and the vocabulary: ${info}`);
  await page.waitForSelector('#memory:not([hidden])', { timeout: 60_000 });
  const weights = await page.$eval('#memory-table tbody tr:first-child td:nth-child(2)', (td) => Number(td.dataset.bytes));
  // bf16 matrices (the tied head counted again, as its decomposed copy), f32 norms.
  const embed = 2 * VOCAB * hidden;
  check(weights > 2 * params && weights < 2 * params + embed + 100_000, `memory table: weights ${weights} bytes for ${params} bf16 values (+ the tied head's copy)`);

  await page.setInputFiles('#data-file', `${fixture}/data.jsonl`);
  await page.waitForSelector('#data-status.ok', { timeout: 60_000 });
  await page.click('#train');
  await page.waitForSelector('#chart[data-state]', { timeout: 900_000 });
  const status = await page.textContent('#train-status');
  check(await page.getAttribute('#chart', 'data-state') === 'done', `run: ${status}`);
  const log = JSON.parse(readFileSync(await download(page, '#dl-json', `${out}/log.json`), 'utf8'));
  const losses = log.steps.map((s) => s.loss);
  check(losses.length === 2 && losses.every((l) => Number.isFinite(l) && l > 0), `two finite losses over 152 k tokens: ${JSON.stringify(losses)}`);

  const zip = await download(page, '#dl-merged', `${out}/merged.zip`);
  const folder = `${out}/merged`;
  execFileSync('unzip', ['-q', '-o', zip, '-d', folder]);
  const merged = safetensors(`${folder}/model.safetensors`);
  const big = ['model.embed_tokens.weight', 'lm_head.weight'].map((n) => merged[n]);
  check(big.every((t) => t?.dtype === 'BF16' && t.shape[0] === VOCAB && t.shape[1] === hidden),
    `merged: embedding and lm_head are bf16 [${VOCAB}, ${hidden}]: ${big.map((t) => t && `${t.dtype} ${t.shape}`).join(', ')}`);
  check(Object.values(merged).every((t) => t.dtype === 'BF16'), 'merged: every tensor bf16, as loaded');
  await page.screenshot({ path: `${out}/trained.png`, fullPage: true });
  check(errors.length === 0, `no page errors ${errors.join(' | ')}`);
  check(foreign.length === 0, `no requests off the page's origin ${foreign.join(' ')}`);
} finally {
  await browser.close();
  stop();
}
process.exit(failed() ? 1 : 0);
