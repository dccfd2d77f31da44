// Models from the Hugging Face Hub for the training page: parses a model id (`org/name`, optional
// `@revision`), lists the repo's files through the Hub API (`GET {endpoint}/api/models/{id}/
// revision/{rev}?blobs=true`: `siblings` with each file's size), picks the ones the engine needs
// (config.json, the tokenizer files, generation_config.json and chat_template.jinja if present,
// model.safetensors or model.safetensors.index.json and the shards its weight_map names) and
// downloads them from `{endpoint}/{id}/resolve/{rev}/{file}` (which may redirect to the file CDN).
// A body cut by the network is resumed with a `Range` request from the byte it stopped at (twice
// at most). Every file is size-checked against the API's size before it is kept: only complete
// files go into the browser's Cache API (cache `svdtune-hub`), and a model counts as cached only
// once all its files are in and its manifest (the file list with sizes) is written, so a partial
// download is never loaded. A cached model loads with no request at all. The token for gated
// repos is passed in per call and never stored. Errors are `HubError`s with a `kind` ('bad-id',
// 'not-found', 'gated', 'network', 'truncated', 'http', 'no-weights', 'stopped', 'storage') and a
// message naming the repo or the file.

const CACHE = 'svdtune-hub';
// Cache keys live under a made-up origin: `{KEYS}/{endpoint host}/{repo}@{rev}/{file}`.
const KEYS = 'https://svdtune-hub.invalid';
const MANIFEST = '.svdtune-manifest.json';
const OPTIONAL = ['generation_config.json', 'chat_template.jinja'];
const REQUIRED = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];
const RESUMES = 2;

export class HubError extends Error {
  constructor(kind, message, file = null) {
    super(message);
    this.kind = kind;
    this.file = file;
  }
}

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

// `{repo, revision}` from `org/name@rev` (revision 'main' when none); throws a 'bad-id' HubError.
export function parseId(text) {
  const t = text.trim();
  const m = /^([A-Za-z0-9][\w.-]*\/)?([A-Za-z0-9][\w.-]*)(?:@([\w./-]+))?$/.exec(t);
  if (!m || t.includes('..')) {
    throw new HubError('bad-id', `"${t}" is not a model id: write it as org/name, optionally with @revision (like Qwen/Qwen3-0.6B@main)`);
  }
  return { repo: `${m[1] ?? ''}${m[2]}`, revision: m[3] ?? 'main' };
}

const repoPath = (repo) => repo.split('/').map(encodeURIComponent).join('/');
const filePath = (file) => file.split('/').map(encodeURIComponent).join('/');
const keyBase = (endpoint, repo, rev) => `${KEYS}/${encodeURIComponent(new URL(endpoint).host)}/${repoPath(repo)}@${encodeURIComponent(rev)}/`;

// The message for a refused request (404, 401/403) or any other HTTP error.
function statusError(status, repo, rev, file) {
  const what = file ? `${file} of ${repo}` : repo;
  if (status === 401 || status === 403) {
    return new HubError('gated', `${what} needs a token (HTTP ${status}): the repo is gated or private; accept its terms on the Hub, then give an access token with read rights in the Token field`, file);
  }
  if (status === 404) {
    return file
      ? new HubError('not-found', `${repo} has no file ${file} at revision ${rev} (HTTP 404)`, file)
      : new HubError('not-found', `no model ${repo} (or no revision ${rev} of it) on the Hub (HTTP 404)`, file);
  }
  return new HubError('http', `the Hub answered HTTP ${status} for ${what}`, file);
}

const authHeaders = (token) => (token ? { Authorization: `Bearer ${token}` } : {});

// A fetch whose network failure is a 'network' HubError naming `what` (an abort stays an abort).
async function get(url, init, what, file = null) {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (init.signal?.aborted) throw new HubError('stopped', 'stopped', file);
    throw new HubError('network', `cannot reach the Hub for ${what} (${e.message}); check the connection and load it again`, file);
  }
}

// The files the engine needs from `repo` at `rev`, as [{name, size}] (size null when the API
// does not give it). Reads the shard index when the weights are sharded.
export async function listFiles({ endpoint, repo, rev, token, signal }) {
  const api = `${endpoint}/api/models/${repoPath(repo)}/revision/${encodeURIComponent(rev)}?blobs=true`;
  const res = await get(api, { headers: authHeaders(token), signal }, repo);
  if (!res.ok) throw statusError(res.status, repo, rev, null);
  const info = await res.json().catch(() => null);
  if (!Array.isArray(info?.siblings)) throw new HubError('http', `the Hub's answer for ${repo} has no file list`);
  const sizes = new Map(info.siblings.map((s) => [s.rfilename, Number.isFinite(s.lfs?.size) ? s.lfs.size : (Number.isFinite(s.size) ? s.size : null)]));
  const missing = REQUIRED.filter((f) => !sizes.has(f));
  if (missing.length) throw new HubError('no-weights', `${repo} has no ${missing.join(', ')}: not a transformers model the page can load`);
  const names = [...REQUIRED, ...OPTIONAL.filter((f) => sizes.has(f))];
  if (sizes.has('model.safetensors')) names.push('model.safetensors');
  else if (sizes.has('model.safetensors.index.json')) {
    const index = 'model.safetensors.index.json';
    const r = await get(resolveUrl(endpoint, repo, rev, index), { headers: authHeaders(token), signal }, index, index);
    if (!r.ok) throw statusError(r.status, repo, rev, index);
    const map = (await r.json().catch(() => null))?.weight_map;
    if (!map || typeof map !== 'object') throw new HubError('no-weights', `${index} of ${repo} has no weight_map`, index);
    names.push(index, ...[...new Set(Object.values(map))].sort());
  } else {
    throw new HubError('no-weights', `${repo} has no model.safetensors and no model.safetensors.index.json (the page loads safetensors weights; drop a GGUF file instead)`);
  }
  return names.map((name) => ({ name, size: sizes.get(name) ?? null }));
}

export const resolveUrl = (endpoint, repo, rev, file) => `${endpoint}/${repoPath(repo)}/resolve/${encodeURIComponent(rev)}/${filePath(file)}`;

// Downloads one file; `onBytes(n)` after every chunk. Resumes a cut body with a Range request.
// Resolves to a Blob of exactly `size` bytes (when known).
async function download({ endpoint, repo, rev, token, signal }, { name, size }, onBytes) {
  const chunks = [];
  let got = 0;
  for (let attempt = 0; ; attempt += 1) {
    const headers = authHeaders(token);
    if (got > 0) headers.Range = `bytes=${got}-`;
    const res = await get(resolveUrl(endpoint, repo, rev, name), { headers, signal, cache: 'no-store' }, name, name);
    if (!res.ok) throw statusError(res.status, repo, rev, name);
    if (got > 0 && res.status !== 206) {
      // The server ignored the range: start the file again.
      onBytes(-got);
      chunks.length = 0;
      got = 0;
    }
    const expected = size ?? (Number(res.headers.get('content-length')) || null);
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        got += value.length;
        onBytes(value.length);
      }
    } catch (e) {
      if (signal.aborted) throw new HubError('stopped', 'stopped', name);
      if (attempt < RESUMES) continue;
      const of = expected ? ` of ${expected.toLocaleString('en-US')}` : '';
      throw new HubError('network', `the network failed while downloading ${name} (after ${got.toLocaleString('en-US')}${of} bytes, resumed ${RESUMES} times: ${e.message}); the files already complete are kept, load it again to continue`, name);
    }
    if (size != null && got !== size) {
      throw new HubError('truncated', `${name} arrived truncated: ${got.toLocaleString('en-US')} of ${size.toLocaleString('en-US')} bytes; it was not kept, load it again`, name);
    }
    return new Blob(chunks);
  }
}

async function openCache() {
  if (!globalThis.caches) throw new HubError('storage', 'this browser gives the page no Cache API (a private window, or not a secure origin), so models from the Hub cannot be kept');
  return caches.open(CACHE);
}

async function manifestOf(cache, base) {
  const r = await cache.match(base + MANIFEST);
  return r ? r.json() : null;
}

// The cached model's files as [{name, file}] when every file is there with its size, else null.
async function fromCache(cache, base, manifest) {
  const entries = [];
  for (const { name, size } of manifest.files) {
    const r = await cache.match(base + filePath(name));
    const blob = r && await r.blob();
    if (!blob || (size != null && blob.size !== size)) return null;
    entries.push({ name, file: new File([blob], name.split('/').pop()) });
  }
  return entries;
}

// Gets the model `id` (its files from the cache, else from the Hub), as {folder, entries,
// cached, bytes} for the page's loadModel. `onProgress({done, total, file})` while downloading.
export async function fetchModel({ id, token = '', endpoint = DEFAULT_ENDPOINT, signal, onProgress = () => {} }) {
  const { repo, revision: rev } = parseId(id);
  const folder = repo.split('/').pop();
  const cache = await openCache();
  const base = keyBase(endpoint, repo, rev);
  const manifest = await manifestOf(cache, base);
  if (manifest) {
    const entries = await fromCache(cache, base, manifest);
    if (entries) return { folder, entries, cached: true, bytes: manifest.bytes };
    await cache.delete(base + MANIFEST);
  }
  const ctx = { endpoint, repo, rev, token, signal };
  const files = await listFiles(ctx);
  // Files a stopped or failed download completed are kept (size-checked) and not fetched again.
  const kept = new Map();
  for (const f of files) {
    const r = await cache.match(base + filePath(f.name));
    const blob = r && await r.blob();
    if (blob && f.size != null && blob.size === f.size) kept.set(f.name, blob);
  }
  const total = files.reduce((s, f) => s + (f.size ?? 0), 0);
  let done = [...kept.values()].reduce((s, b) => s + b.size, 0);
  onProgress({ done, total, file: null });
  const entries = [];
  for (const f of files) {
    let blob = kept.get(f.name);
    if (!blob) {
      blob = await download(ctx, f, (n) => { done += n; onProgress({ done, total, file: f.name }); });
      try {
        await cache.put(base + filePath(f.name), new Response(blob, { headers: { 'Content-Length': String(blob.size) } }));
      } catch (e) {
        throw new HubError('storage', `cannot keep ${f.name} in the browser's storage (${e.message}); free some space or delete a cached model`, f.name);
      }
    }
    entries.push({ name: f.name, file: new File([blob], f.name.split('/').pop()) });
  }
  const bytes = entries.reduce((s, e) => s + e.file.size, 0);
  const record = { id: `${repo}@${rev}`, repo, rev, endpoint, files: files.map((f, i) => ({ name: f.name, size: entries[i].file.size })), bytes, saved: new Date().toISOString() };
  await cache.put(base + MANIFEST, new Response(JSON.stringify(record), { headers: { 'Content-Type': 'application/json' } }));
  return { folder, entries, cached: false, bytes };
}

// The complete models in the cache: [{id, repo, rev, endpoint, bytes, saved, base}].
export async function listCached() {
  if (!globalThis.caches) return [];
  const cache = await caches.open(CACHE);
  const out = [];
  for (const req of await cache.keys()) {
    if (!req.url.endsWith(`/${MANIFEST}`)) continue;
    const m = await (await cache.match(req)).json().catch(() => null);
    if (m) out.push({ ...m, base: req.url.slice(0, -MANIFEST.length) });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

// Deletes every file kept for the model whose cache prefix is `base` (listCached's `base`).
export async function deleteCached(base) {
  const cache = await caches.open(CACHE);
  const keys = (await cache.keys()).filter((r) => r.url.startsWith(base));
  // The manifest first: a model half deleted is no longer listed nor loaded.
  keys.sort((a, b) => Number(b.url.endsWith(MANIFEST)) - Number(a.url.endsWith(MANIFEST)));
  for (const k of keys) await cache.delete(k);
  return keys.length;
}
