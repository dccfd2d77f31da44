// End-to-end: hostile chat templates on the training page (headless Chromium, CPU engine). The
// tiny chat model is loaded with its data and trained 2 steps, Generate answers, and a longer data
// file (480 records) is read; then model
// folders with hostile templates are dropped: one in tokenizer_config.json that loops (for as long
// as its fuel lasts, on every conversation with an answer: it passes a one-message prompt, so it
// is the data file that takes too long), one in chat_template.jinja that recurses without end.
// For each, within the data time limit (set to 2 s here), the page names the template's file (and
// the data file) and says why, the data worker is ended, and the session is untouched: the model
// info, the data info and the trained run are still shown, and Generate gives the same answers
// (from a new data worker). First, in Node: client.js classifies a real stack overflow and a
// real wasm trap (what a data worker dies of) and keeps an engine error's kind.
// Usage: node tests/e2e/template_page.mjs   (after scripts/build-web.sh)
import { chromium } from 'playwright-core';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fixture } from './native.mjs';
import { artifacts, baseArgs, check, failed, prepare, root, serveWeb, waitForAnswers, watch } from './page.mjs';

const { describeError } = await import(`${root}web/client.js`);
const thrown = (fn) => { try { fn(); } catch (e) { return e; } return null; };
const recurse = () => recurse();
const stack = describeError(thrown(recurse));
check(stack.kind === 'stack-overflow' && /ran out of stack/.test(stack.message), `client.js: a stack overflow is ${JSON.stringify(stack)}`);
// A module whose one function is `unreachable` (what a Rust abort compiles to).
const trap = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 5, 1, 3, 0, 0, 11,
]))).exports.f;
const abort = describeError(thrown(trap));
check(abort.kind === 'wasm-abort' && /engine stopped/.test(abort.message), `client.js: a wasm trap is ${JSON.stringify(abort)}`);
const oom = describeError(thrown(trap), 4 * 2 ** 30);
check(oom.kind === 'wasm-abort' && /ran out of memory \(4096 MiB/.test(oom.message), `client.js: a trap with 4 GiB of memory is ${JSON.stringify(oom)}`);
const typed = describeError(Object.assign(new Error('the GPU device was lost (x)'), { kind: 'device-lost' }));
check(typed.kind === 'device-lost', `client.js: an engine error keeps its kind: ${JSON.stringify(typed)}`);

const BUDGET_S = 2;
const out = `${artifacts}/template-page`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// A copy of the tiny chat model whose template is `source` (in chat_template.jinja when `jinja`).
function hostileModel(name, source, jinja) {
  const dir = `${out}/${name}`;
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(fixture)) if (f !== 'data.jsonl' && !f.endsWith('.py')) copyFileSync(`${fixture}/${f}`, `${dir}/${f}`);
  if (jinja) writeFileSync(`${dir}/chat_template.jinja`, source);
  else {
    const cfg = JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8'));
    cfg.chat_template = source;
    writeFileSync(`${dir}/tokenizer_config.json`, JSON.stringify(cfg));
  }
  return dir;
}

const chatml = JSON.parse(readFileSync(`${fixture}/tokenizer_config.json`, 'utf8')).chat_template;
const CASES = [
  {
    name: 'loop',
    file: 'tokenizer_config.json',
    jinja: false,
    source: `{% if messages|length > 1 %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}${chatml}`,
    // The budget plus 5 s per MB of data (many.jsonl: 0.06 MB).
    reason: new RegExp(`took longer than ${BUDGET_S}(\\.\\d)? s`),
  },
  {
    name: 'recursion',
    file: 'chat_template.jinja',
    jinja: true,
    source: '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}',
    reason: /recursion limit exceeded|ran out of stack/,
  },
];

async function answers(page) {
  await page.fill('#prompt', 'What is your name?');
  await page.fill('#max-new', '8');
  await page.click('#generate');
  await waitForAnswers(page);
  return [await page.textContent('#answer-original'), await page.textContent('#answer-current')];
}

const text = async (page, sel) => (await page.innerText(sel)).replace(/\s+/g, ' ');

const { origin, stop } = await serveWeb();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: baseArgs });
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 1200 } });
  const page = await context.newPage();
  const { errors, foreign } = watch(context, page, origin);
  await page.goto(`${origin}/?cpu`);
  await page.waitForSelector('#engine[data-state]', { timeout: 120_000 });
  await prepare(page, 'good model');
  await page.fill('#settings [name=max_steps]', '2');
  await page.click('#train');
  await page.waitForSelector('#chart[data-state=done]', { timeout: 300_000 });
  // A longer data file (the fixture 20 times), so that the looping template's fuel-bounded
  // renders take far longer than the budget in all.
  const many = `${out}/many.jsonl`;
  writeFileSync(many, readFileSync(`${fixture}/data.jsonl`, 'utf8').repeat(20));
  await page.setInputFiles('#data-file', many);
  await page.waitForFunction(() => /Read many\.jsonl/.test(document.querySelector('#data-status').textContent), null, { timeout: 120_000 });
  const before = {
    model: await text(page, '#model-info'),
    data: await text(page, '#data-info'),
    step: await page.textContent('#stat-step'),
    full: await page.textContent('#stat-full'),
    answers: await answers(page),
  };
  check(/^2 \/ 2/.test(before.step) && !before.answers[1].startsWith('Error'), `trained 2 steps and generated: ${before.step}, ${JSON.stringify(before.answers)}`);
  await page.fill('#settings [name=data_budget]', String(BUDGET_S));

  for (const c of CASES) {
    const dir = hostileModel(c.name, c.source, c.jinja);
    const started = Date.now();
    await page.setInputFiles('#model-folder', dir);
    await page.waitForSelector('#model-status.bad', { timeout: 120_000 }).catch(async (e) => {
      await page.screenshot({ path: `${out}/${c.name}-stuck.png`, fullPage: true });
      throw new Error(`${c.name}: no error shown; the model status says "${await page.textContent('#model-status')}" (${e.message})`);
    });
    const took = (Date.now() - started) / 1000;
    const said = await page.textContent('#model-status');
    check(said.includes(c.file) && c.reason.test(said), `${c.name}: the page names ${c.file} and why: "${said}"`);
    if (c.name === 'loop') check(said.includes('many.jsonl'), `${c.name}: and the data file`);
    // Worker start, the one-message probe, then the budget.
    check(took < BUDGET_S + 20, `${c.name}: reported after ${took.toFixed(1)} s`);
    check(/stays loaded, with its training/.test(said), `${c.name}: the loaded model stays`);
    check(await text(page, '#model-info') === before.model, `${c.name}: the model info is unchanged`);
    check(await text(page, '#data-info') === before.data && await page.isVisible('#data-status.ok'), `${c.name}: the data info is unchanged`);
    check(await page.textContent('#stat-step') === before.step && await page.textContent('#stat-full') === before.full, `${c.name}: the run is unchanged`);
    const again = await answers(page);
    check(JSON.stringify(again) === JSON.stringify(before.answers), `${c.name}: Generate gives the same answers: ${JSON.stringify(again)}`);
    check(await page.isEnabled('#dl-adapter'), `${c.name}: the trained adapter can still be downloaded`);
  }
  await page.screenshot({ path: `${out}/page.png`, fullPage: true });
  check(errors.length === 0, `no page errors${errors.length ? `: ${errors.join(' | ')}` : ''}`);
  check(foreign.length === 0, `no requests beyond the page's own files${foreign.length ? `: ${foreign.join(' ')}` : ''}`);
} finally {
  await browser.close();
  stop();
}
process.exit(failed() ? 1 : 0);
