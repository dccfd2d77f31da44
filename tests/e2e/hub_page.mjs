// End-to-end: a model id from the Hub on the training page (headless Chromium, CPU engine), against
// the local stand-in of hub_server.mjs (a Hub and a file CDN on two ports; nothing reaches the
// internet). First, in Node, hub.js lists a sharded repo's files and a gated one's with a token.
// Then the page: the Content-Security-Policy (header = meta tag; the Hub's hosts, the two test
// origins and nothing else; a connection elsewhere is refused); each error names its cause and
// file (404, 401 gated, a truncated body, a body cut every time) and keeps no partial file; the
// gated repo loads with its token; Stop ends a hanging download; org/tiny downloads through the
// CDN redirect (its cut body resumed with a Range request), loads, and is listed as cached with
// its size; after a reload it loads again with no request to either server; Delete removes each
// model from the list and from the Cache API.
// Usage: node tests/e2e/hub_page.mjs   (after scripts/build-web.sh)
import { chromium } from 'playwright-core';
import { baseArgs, check, failed, root, serveWeb, watch } from './page.mjs';
import { TOKEN, startHub } from './hub_server.mjs';

const HUB_HOSTS = ['https://huggingface.co', 'https://cdn-lfs.huggingface.co', 'https://cdn-lfs-us-1.huggingface.co', 'https://cdn-lfs-eu-1.huggingface.co', 'https://cdn-lfs.hf.co', 'https://cdn-lfs-us-1.hf.co', 'https://cdn-lfs-eu-1.hf.co', 'https://cas-bridge.xethub.hf.co', 'https://cas-bridge.xethub-eu.hf.co', 'https://us.aws.cdn.hf.co', 'https://us.gcp.cdn.hf.co'];

const hub = await startHub(root);
const { listFiles, parseId } = await import(`${root}web/hub.js`);

// ---- hub.js in Node ----------------------------------------------------------------------
const sharded = await listFiles({ endpoint: hub.hub, repo: 'org/sharded', rev: 'main', token: '', signal: new AbortController().signal });
const names = sharded.map((f) => f.name);
check(names.includes('model.safetensors.index.json') && names.filter((n) => /^model-0000\d-of-00003\.safetensors$/.test(n)).length === 3 && sharded.every((f) => f.size > 0),
  `hub.js: a sharded repo's files ${names.join(', ')}`);
const gated = await listFiles({ endpoint: hub.hub, repo: 'org/gated', rev: 'main', token: TOKEN, signal: new AbortController().signal }).catch((e) => e);
check(Array.isArray(gated) && gated.some((f) => f.name === 'model.safetensors'), `hub.js: a gated repo with the token lists ${Array.isArray(gated) ? gated.length : gated.message} files`);
const bad = (() => { try { parseId('not an id'); } catch (e) { return e; } return null; })();
check(bad?.kind === 'bad-id', `hub.js: a bad id: ${bad?.message}`);
check(JSON.stringify(parseId('Qwen/Qwen3-0.6B@v1.0')) === '{"repo":"Qwen/Qwen3-0.6B","revision":"v1.0"}', 'hub.js: id@revision');

// ---- the page ----------------------------------------------------------------------------
const { origin, stop } = await serveWeb(['--hub', hub.hub, '--hub', hub.cdn]);
const res = await fetch(`${origin}/`);
const header = res.headers.get('content-security-policy');
const meta = /http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(await res.text())?.[1];
const connect = (header ?? '').split(';').map((d) => d.trim()).find((d) => d.startsWith('connect-src'))?.split(/\s+/).slice(1);
check(header === meta, 'CSP: the header is the meta tag\'s policy');
check(JSON.stringify(connect) === JSON.stringify(["'self'", ...HUB_HOSTS, hub.hub, hub.cdn]), `CSP: connect-src ${connect?.join(' ')}`);

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: baseArgs });
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watch(context, page, origin);
  page.setDefaultTimeout(120_000);
  const url = `${origin}/?cpu&hub=${encodeURIComponent(hub.hub)}`;
  await page.goto(url);
  await page.waitForSelector('#hub-load:not([disabled])');
  check(/never leave this machine/.test(await page.textContent('#hub-title')), 'the page says the data never leaves the machine');

  // A connection anywhere else is refused by the policy.
  const refused = await page.evaluate(async () => {
    const blocked = new Promise((resolve) => document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective), { once: true }));
    await fetch('https://example.com/').catch(() => null);
    return blocked;
  });
  check(refused === 'connect-src', `CSP: a fetch of example.com is refused (${refused})`);

  const load = async (id) => {
    await page.fill('#hub-id', id);
    await page.click('#hub-load');
    await page.waitForFunction(() => ['ok', 'bad', 'notice'].includes(document.querySelector('#hub-status').className));
    return { kind: await page.getAttribute('#hub-status', 'data-kind'), text: await page.textContent('#hub-status'), ok: await page.isVisible('#hub-status.ok') };
  };
  // Waits until the model status names `name` (loaded or refused) and returns it.
  const modelLoaded = async (name) => {
    await page.waitForFunction((n) => {
      const el = document.querySelector('#model-status');
      return ['ok', 'bad'].includes(el.className) && el.textContent.includes(n);
    }, name);
    return page.textContent('#model-status');
  };
  const errors = [
    ['org/missing', 'not-found', /no model org\/missing .*HTTP 404/],
    ['org/gated', 'gated', /needs a token \(HTTP 401\).*Token field/],
    ['org/short', 'truncated', /model\.safetensors arrived truncated: 54,776 of 109,552 bytes/],
    ['org/cut', 'network', /network failed while downloading model\.safetensors/],
  ];
  for (const [id, kind, text] of errors) {
    const got = await load(id);
    check(got.kind === kind && text.test(got.text), `${id}: [${got.kind}] ${got.text}`);
  }
  // The gated repo with its token: the API and resolve get it, the download and load work.
  await page.fill('#hub-token', TOKEN);
  const n0 = hub.requests.length;
  const opened = await load('org/gated');
  const loaded = await modelLoaded('gated');
  const sent = hub.requests.slice(n0).filter((r) => r.server === 'hub' && r.method === 'GET');
  check(opened.ok && /Loaded gated/.test(loaded) && sent.length > 0 && sent.every((r) => r.auth), `org/gated with a token: ${opened.text} ${loaded} (${sent.length} requests to the Hub, all with the token)`);
  await page.fill('#hub-token', '');

  // Stop during a download that hangs half-way.
  await page.fill('#hub-id', 'org/slow');
  await page.click('#hub-load');
  await page.waitForFunction(() => /Downloading .*model\.safetensors/.test(document.querySelector('#hub-status').textContent));
  await page.click('#hub-stop');
  await page.waitForSelector('#hub-status.notice');
  check(/Stopped downloading org\/slow/.test(await page.textContent('#hub-status')), `Stop: ${await page.textContent('#hub-status')}`);

  const partial = await page.evaluate(async () => (await (await caches.open('svdtune-hub')).keys()).map((r) => r.url).filter((u) => /org\/(short|cut|slow)@main\/(model\.safetensors|\.svdtune-manifest\.json)$/.test(u)));
  check(partial.length === 0, `no partial weights and no manifest are kept for the failed and stopped downloads (${partial.join(', ') || 'none'})`);
  const complete = await page.evaluate(async () => (await (await caches.open('svdtune-hub')).keys()).some((r) => r.url.endsWith('org/cut@main/config.json')));
  check(complete, 'the files a failed download completed are kept for the next try');

  // The model: downloaded (the cut body resumed with a range), loaded, cached.
  const before = hub.requests.length;
  const got = await load('org/tiny');
  check(got.ok && /downloaded and kept/.test(got.text), `org/tiny: ${got.text}`);
  const tinyStatus = await modelLoaded('tiny');
  check(/Loaded tiny/.test(tinyStatus), `org/tiny: model "${tinyStatus}"`);
  const mine = hub.requests.slice(before);
  check(mine.some((r) => r.server === 'cdn' && !r.range), 'org/tiny: the weights came from the CDN after the redirect');
  const resumed = mine.find((r) => r.server === 'cdn' && r.range);
  check(Boolean(resumed) && /^bytes=\d+-$/.test(resumed.range), `org/tiny: the cut weights resumed with ${resumed?.range}`);
  check(!mine.some((r) => r.auth), 'no token is sent when none is given');
  const listed = await page.innerText('#hub-cached');
  check(/org\/tiny@main from http:\/\/127\.0\.0\.1:\d+: 0\.1 MB/.test(listed), `cached list: ${listed}`);

  // Reload: the cached model loads with no request to either server.
  await page.reload();
  await page.waitForSelector('#hub-load:not([disabled])');
  const relisted = await page.innerText('#hub-cached');
  check(/org\/gated@main/.test(relisted) && /org\/tiny@main/.test(relisted), `after a reload the cached models are listed: ${relisted}`);
  const n = hub.requests.length;
  const again = await load('org/tiny');
  await modelLoaded('tiny');
  check(again.ok && (await page.getAttribute('#hub-status', 'data-cached')) === 'true' && /no download/.test(again.text), `reload: ${again.text}`);
  check(hub.requests.length === n, `reload: ${hub.requests.length - n} requests to the Hub (0 expected)`);
  check(/Loaded tiny/.test(await page.textContent('#model-status')), `reload: model "${await page.textContent('#model-status')}"`);

  // Delete.
  await page.click('#hub-cached button[aria-label="Delete org/tiny@main from this browser"]');
  await page.waitForFunction(() => !/org\/tiny/.test(document.querySelector('#hub-cached').textContent));
  check(/org\/gated@main/.test(await page.innerText('#hub-cached')), 'Delete removes only that model');
  await page.click('#hub-cached button');
  await page.waitForSelector('#hub-cached-box', { state: 'hidden' });
  const left = await page.evaluate(async () => (await (await caches.open('svdtune-hub')).keys()).map((r) => r.url).filter((u) => /org\/(tiny|gated)@/.test(u)));
  check(left.length === 0, `Delete: ${left.length} files of org/tiny and org/gated left in the cache`);
  check(/Deleted org\/gated@main/.test(await page.textContent('#hub-status')), `Delete: ${await page.textContent('#hub-status')}`);

  const foreign = seen.foreign.filter((u) => !u.startsWith(`${hub.hub}/`) && !u.startsWith(`${hub.cdn}/`));
  check(foreign.length === 0, `no request beyond the page and the local Hub (${foreign.join(', ') || 'none'})`);
  const pageErrors = seen.errors.filter((e) => !/Failed to load resource|example\.com|Content Security Policy/.test(e));
  check(pageErrors.length === 0, `no page errors (${pageErrors.join(' | ') || 'none'})`);
} finally {
  await browser.close();
  stop();
  hub.stop();
}
process.exit(failed() ? 1 : 0);
