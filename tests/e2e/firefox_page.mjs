// End-to-end: the training page in headless Firefox with WebGPU enabled, driven through
// geckodriver (W3C WebDriver over HTTP; Playwright drives only its own Firefox build). First the
// engine choice on Firefox's adapter (Mesa's llvmpipe/lavapipe here: by default the CPU engine,
// naming the software renderer). Then, with `?gpu` (WebGPU anyway), gives the page the tiny chat
// model's files and data, trains 12 steps, generates, and checks that the page's loss over the
// file equals what the native CLI gets by training with the same settings (`svdtune train` then
// `svdtune eval`). Screenshots in artifacts/.
// Usage: node tests/e2e/firefox_page.mjs   (needs target/release/svdtune and geckodriver)
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { SETTINGS, fixture, nativeTrainLoss } from './native.mjs';
import { artifacts, freePort, serveWeb } from './page.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const wdPort = await freePort();
const { origin, stop: stopServer } = await serveWeb();
const gecko = spawn('geckodriver', ['--port', String(wdPort), '--host', '127.0.0.1'], { stdio: 'ignore' });
await sleep(1500);

let failed = false;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  failed ||= !ok;
  return ok;
}

async function wd(method, path, body) {
  const res = await fetch(`http://127.0.0.1:${wdPort}${path}`, {
    method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${json.value?.message ?? res.status}`);
  return json.value;
}

let sid = null;
try {
  const session = await wd('POST', '/session', {
    capabilities: {
      alwaysMatch: {
        browserName: 'firefox',
        'moz:firefoxOptions': {
          binary: '/usr/bin/firefox-esr', args: ['-headless'],
          prefs: { 'dom.webgpu.enabled': true, 'gfx.webgpu.ignore-blocklist': true },
        },
      },
    },
  });
  sid = session.sessionId;
  const js = (script, ...args) => wd('POST', `/session/${sid}/execute/sync`, { script, args });
  const until = async (script, ms, what) => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await js(script);
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(500);
    }
  };
  const setFiles = async (css, paths) => {
    const el = await wd('POST', `/session/${sid}/element`, { using: 'css selector', value: css });
    await wd('POST', `/session/${sid}/element/${Object.values(el)[0]}/value`, { text: paths.join('\n') });
  };

  const screenshot = async (name) => writeFileSync(`${artifacts}/${name}`, Buffer.from(await wd('GET', `/session/${sid}/screenshot`), 'base64'));

  // The automatic choice on Firefox's adapter: a software one gets the CPU engine, named.
  await wd('POST', `/session/${sid}/url`, { url: `${origin}/` });
  const auto = await until("return document.querySelector('#engine').dataset.state", 120_000, 'the engine');
  const autoText = await js("return document.querySelector('#engine').textContent");
  check(auto === 'software' && /^CPU engine: this browser's WebGPU is a software renderer \((llvmpipe|lavapipe|softpipe|a fallback adapter)[:)]/.test(autoText),
    `firefox: by default ${auto} "${autoText}"`);
  await screenshot('engine-firefox.png');

  await wd('POST', `/session/${sid}/url`, { url: `${origin}/?gpu` });
  const engine = await until("return document.querySelector('#engine').dataset.state", 120_000, 'the engine');
  check(engine === 'gpu', `firefox: engine ${engine} "${await js("return document.querySelector('#engine').textContent")}"`);
  await js(`for (const [k, v] of Object.entries(arguments[0])) {
    const el = document.querySelector('#settings [name=' + k + ']');
    el.value = v;
    el.dispatchEvent(new Event('change', { bubbles: true }));
  }`, SETTINGS);
  await setFiles('#model-files', ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'].map((f) => `${fixture}/${f}`));
  const model = await until("const s = document.querySelector('#model-status'); return s.className && s.textContent", 120_000, 'the model');
  check(model.startsWith('Loaded'), `firefox: model "${model}"`);
  await setFiles('#data-file', [`${fixture}/data.jsonl`]);
  const data = await until("const s = document.querySelector('#data-status'); return s.className && s.textContent", 60_000, 'the data');
  check(data.startsWith('Read'), `firefox: data "${data}"`);
  await js("document.querySelector('#train').click()");
  const state = await until("return document.querySelector('#chart').dataset.state", 600_000, 'the run');
  const steps = await js("return document.querySelector('#chart').dataset.steps");
  check(state === 'done' && steps === '12', `firefox: run ${state}, ${steps} steps, "${await js("return document.querySelector('#train-status').textContent")}"`);
  const pageLoss = Number(await js("return document.querySelector('#stat-full').textContent"));
  const native = nativeTrainLoss(`${artifacts}/firefox-native`);
  check(Math.abs(pageLoss - native) < 1e-3, `firefox: page loss over the file ${pageLoss} = svdtune train + eval ${native}`);
  await js("document.querySelector('#generate').click()");
  const answer = await until("const a = document.querySelector('#answer-current'); const t = a.textContent; return !a.hasAttribute('aria-busy') && t !== '…' && t", 300_000, 'the answer');
  check(!answer.startsWith('Error'), `firefox: answer ${JSON.stringify(answer)}`);
  await screenshot('train-page-firefox.png');
} catch (e) {
  console.error(`FAIL: ${e.stack ?? e}`);
  failed = true;
} finally {
  if (sid) await wd('DELETE', `/session/${sid}`).catch(() => {});
  gecko.kill();
  stopServer();
}
process.exit(failed ? 1 : 0);
