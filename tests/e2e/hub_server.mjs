// A stand-in for the Hugging Face Hub on 127.0.0.1 for the page tests (the Node twin of
// tests/hub_support/mod.rs): the Hub's URL layout (`GET /api/models/{repo}/revision/{rev}` with
// `siblings` and their sizes, `GET /{repo}/resolve/{rev}/{file}`), a 302 from `resolve` for every
// `*.safetensors` to a second server on another port (the file CDN), range requests there, CORS
// as the Hub sends it, and the repos:
//   org/tiny     the tiny chat model; the CDN cuts the first body of its weights half-way
//   org/sharded  an index and three shards (listed only: for the file list)
//   org/gated    401 without `Authorization: Bearer hf_test_secret`
//   org/short    the weights' body ends early (a consistent but short Content-Length)
//   org/cut      the weights' body is cut half-way, every time
//   org/slow     the weights' body stops half-way and hangs (for Stop)
// any other repo is a 404. Every request both servers get is in `requests`.
import { createServer } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';

export const TOKEN = 'hf_test_secret';
const COMMIT = 'c0ffee00000000000000000000000000000000a1';

function folder(dir, skip = () => false) {
  return Object.fromEntries(readdirSync(dir).filter((f) => !skip(f)).map((f) => [f, readFileSync(`${dir}/${f}`)]));
}

function cors(res) {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Expose-Headers', 'Content-Length, Content-Range, ETag, X-Repo-Commit');
  res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
}

// Starts both servers; resolves to {hub, cdn, requests, stop}. `root`: the repository root.
export async function startHub(root) {
  const tiny = folder(`${root}tests/fixtures/tiny-chat`, (f) => f === 'data.jsonl' || f.endsWith('.py'));
  const shards = folder(`${root}tests/fixtures/models/llama_sharded`, (f) => f === 'golden.safetensors');
  const text = Object.fromEntries(['tokenizer.json', 'tokenizer_config.json'].map((f) => [f, tiny[f]]));
  const repos = {
    'org/tiny': { files: tiny, cut: 1 },
    'org/sharded': { files: { ...shards, ...text } },
    'org/gated': { files: tiny, gated: true },
    'org/short': { files: tiny, short: true },
    'org/cut': { files: tiny, cut: Infinity },
    'org/slow': { files: tiny, hang: true },
  };
  const requests = [];
  const hanging = new Set();
  let cdnOrigin = '';

  const listen = (handler) => new Promise((resolve) => {
    const srv = createServer((req, res) => {
      requests.push({ server: handler.name, method: req.method, url: req.url, range: req.headers.range ?? null, auth: Boolean(req.headers.authorization) });
      cors(res);
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { 'Access-Control-Allow-Headers': 'authorization, range', 'Access-Control-Allow-Methods': 'GET, HEAD', 'Access-Control-Max-Age': '0' });
        res.end();
        return;
      }
      handler(req, res);
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });

  const fail = (res, status, code) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'X-Error-Code': code });
    res.end(JSON.stringify({ error: code }));
  };

  function hub(req, res) {
    const url = new URL(req.url, 'http://x');
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const name = decodeURIComponent((api ?? resolve)?.[1] ?? '');
    const repo = repos[name];
    if (!repo) return fail(res, 404, 'RepoNotFound');
    if (repo.gated && req.headers.authorization !== `Bearer ${TOKEN}`) return fail(res, 401, 'GatedRepo');
    if (api) {
      const siblings = Object.entries(repo.files).map(([f, b]) => (f.endsWith('.safetensors') ? { rfilename: f, size: b.length, lfs: { size: b.length, sha256: 'x' } } : { rfilename: f, size: b.length }));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ id: name, sha: COMMIT, siblings }));
    }
    const file = decodeURIComponent(resolve[3]);
    const body = repo.files[file];
    if (!body) return fail(res, 404, 'EntryNotFound');
    if (file.endsWith('.safetensors')) {
      res.writeHead(302, { Location: `${cdnOrigin}/blobs/${encodeURIComponent(name)}/${encodeURIComponent(file)}`, 'X-Repo-Commit': COMMIT });
      return res.end();
    }
    res.writeHead(200, { 'Content-Length': body.length, 'X-Repo-Commit': COMMIT });
    res.end(body);
  }

  function cdn(req, res) {
    const m = /^\/blobs\/([^/]+)\/([^/]+)$/.exec(new URL(req.url, 'http://x').pathname);
    const repo = m && repos[decodeURIComponent(m[1])];
    const body = repo?.files[decodeURIComponent(m[2])];
    if (!body) return fail(res, 404, 'EntryNotFound');
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = range ? Number(range[1]) : 0;
    const rest = body.subarray(from);
    const half = rest.subarray(0, Math.floor(rest.length / 2));
    if (repo.short) {
      res.writeHead(200, { 'Content-Length': half.length, 'Accept-Ranges': 'bytes' });
      return res.end(half);
    }
    const head = { 'Content-Length': rest.length, 'Accept-Ranges': 'bytes' };
    if (range) head['Content-Range'] = `bytes ${from}-${body.length - 1}/${body.length}`;
    res.writeHead(range ? 206 : 200, head);
    if (repo.hang) {
      hanging.add(res.socket);
      return res.write(half);
    }
    if (repo.cut > 0) {
      repo.cut -= 1;
      return res.write(half, () => setTimeout(() => res.socket.destroy(), 50));
    }
    res.end(rest);
  }

  const hubSrv = await listen(hub);
  const cdnSrv = await listen(cdn);
  cdnOrigin = `http://127.0.0.1:${cdnSrv.address().port}`;
  return {
    hub: `http://127.0.0.1:${hubSrv.address().port}`,
    cdn: cdnOrigin,
    requests,
    stop: () => {
      for (const s of hanging) s.destroy();
      for (const srv of [hubSrv, cdnSrv]) { srv.closeAllConnections(); srv.close(); }
    },
  };
}
