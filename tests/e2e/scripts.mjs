// End-to-end: the scripts around the page. scripts/serve.py (what scripts/run.sh and the page
// tests serve web/ with): with its port taken it serves on the next free one, printing that URL
// only once it listens, with the cross-origin isolation headers; with `--exact` (run.sh's
// PORT=N) a taken port is a clear error. scripts/build-web.sh: in a scratch copy whose build
// tools (cargo, wasm-bindgen, wasm-opt, rustc) are stand-ins that log their calls, a first run
// builds, a second one skips (web/pkg is up to date), and a changed or new input rebuilds.
// Usage: node tests/e2e/scripts.mjs
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { check, failed, root } from './page.mjs';

// ---- serve.py -------------------------------------------------------------------------------

const taken = createServer();
await new Promise((r) => taken.listen(0, '127.0.0.1', r));
const port = taken.address().port;
const server = spawn('python3', [`${root}scripts/serve.py`, '--port', String(port), '--path', '/?demo', '--quiet', `${root}web`], { stdio: ['ignore', 'pipe', 'pipe'] });
try {
  const said = await new Promise((resolve, reject) => {
    let outText = '';
    const timer = setTimeout(() => reject(new Error(`serve.py printed no URL in 30 s: ${outText}`)), 30_000);
    server.stdout.on('data', (d) => {
      outText += d;
      if (/\n/.test(outText)) { clearTimeout(timer); resolve(outText.trim()); }
    });
    server.on('exit', (code) => reject(new Error(`serve.py ended (${code})`)));
  });
  const got = Number(/^svdtune is served at http:\/\/localhost:(\d+)\/\?demo$/.exec(said)?.[1]);
  check(got > port, `serve.py: port ${port} taken, it says "${said}"`);
  const res = await fetch(`http://127.0.0.1:${got}/index.html`);
  const body = await res.text();
  check(res.ok && /<title>svdtune/.test(body), `serve.py: serves web/ on ${got} (${res.status})`);
  const coop = res.headers.get('cross-origin-opener-policy');
  const coep = res.headers.get('cross-origin-embedder-policy');
  check(coop === 'same-origin' && coep === 'require-corp', `serve.py: COOP ${coop}, COEP ${coep}`);
  const js = await fetch(`http://127.0.0.1:${got}/app.js`);
  check(/javascript/.test(js.headers.get('content-type')), `serve.py: app.js is ${js.headers.get('content-type')}`);
  const exact = spawnSync('python3', [`${root}scripts/serve.py`, '--port', String(port), '--exact', `${root}web`], { encoding: 'utf8', timeout: 30_000 });
  check(exact.status !== 0 && exact.stderr.includes(`port ${port} is taken`) && !/Traceback/.test(exact.stderr),
    `serve.py --exact: exit ${exact.status}, "${exact.stderr.trim()}"`);
} catch (e) {
  check(false, `serve.py: ${e.message}`);
} finally {
  server.kill();
  taken.close();
}

// ---- build-web.sh's up-to-date check ---------------------------------------------------------

const dir = mkdtempSync(`${tmpdir()}/svdtune-build-web-`);
try {
  for (const d of ['scripts', 'src', 'shaders', '.cargo', 'node_modules/.bin']) mkdirSync(`${dir}/${d}`, { recursive: true });
  for (const f of ['build-web.sh', 'wasm-threads.sh']) copyFileSync(`${root}scripts/${f}`, `${dir}/scripts/${f}`);
  for (const f of ['Cargo.toml', 'Cargo.lock', '.cargo/config.toml']) copyFileSync(`${root}${f}`, `${dir}/${f}`);
  writeFileSync(`${dir}/src/lib.rs`, 'pub fn f() {}\n');
  writeFileSync(`${dir}/shaders/a.wgsl`, '// a\n');
  // Stand-ins: each logs its name; cargo makes the module (in its --target-dir), wasm-bindgen the
  // package, wasm-opt -o. Three builds: threaded with relaxed SIMD (web/pkg), threaded (web/pkg/simd)
  // and single-threaded (web/pkg/single).
  const tools = {
    cargo: 'td=target; prev=; for a in "$@"; do [ "$prev" = --target-dir ] && td=$a; prev=$a; done; mkdir -p "$td/wasm32-unknown-unknown/release" && echo wasm > "$td/wasm32-unknown-unknown/release/svdtune.wasm"',
    'wasm-bindgen': 'out=$3; mkdir -p "$out"; cp "$1" "$out/svdtune_bg.wasm"; echo js > "$out/svdtune.js"',
    'wasm-opt': 'cp "$1" "$3"',
    rustc: 'echo "rustc stand-in"; exit 0',
  };
  for (const [name, body] of Object.entries(tools)) {
    const path = `${dir}/node_modules/.bin/${name}`;
    writeFileSync(path, `#!/usr/bin/env bash\nset -e\n[ "$1" = --version ] && { echo "${name} 0"; exit 0; }\necho ${name} >> "${dir}/calls"\n${body}\n`);
    chmodSync(path, 0o755);
  }
  const env = { ...process.env, SVDTUNE_ROOT: dir };
  const build = () => {
    rmSync(`${dir}/calls`, { force: true });
    const said = execFileSync(`${dir}/scripts/build-web.sh`, [], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    let calls = '';
    try { calls = readFileSync(`${dir}/calls`, 'utf8').trim().split('\n').join(' '); } catch { /* none */ }
    return { said: said.trim().split('\n').at(-1), calls };
  };
  const upToDate = () => spawnSync(`${dir}/scripts/build-web.sh`, ['--check'], { env }).status === 0;

  check(!upToDate(), 'build-web.sh --check: a fresh tree needs a build');
  const first = build();
  const both = 'cargo cargo cargo wasm-bindgen wasm-opt wasm-bindgen wasm-opt wasm-bindgen wasm-opt';
  check(first.calls === both, `build-web.sh: the first run builds the three engines (${first.calls})`);
  check(existsSync(`${dir}/web/pkg/svdtune.js`) && existsSync(`${dir}/web/pkg/simd/svdtune.js`) && existsSync(`${dir}/web/pkg/single/svdtune.js`), 'build-web.sh: web/pkg, web/pkg/simd and web/pkg/single');
  check(upToDate(), 'build-web.sh --check: up to date after the build');
  const second = build();
  check(second.calls === '' && /up to date/.test(second.said), `build-web.sh: the second run skips ("${second.said}", calls: "${second.calls}")`);
  writeFileSync(`${dir}/src/lib.rs`, 'pub fn g() {}\n');
  check(!upToDate(), 'build-web.sh --check: an edited source file needs a build');
  check(build().calls === both, 'build-web.sh: an edited source file rebuilds');
  writeFileSync(`${dir}/scripts/wasm-threads.sh`, `${readFileSync(`${dir}/scripts/wasm-threads.sh`, 'utf8')}# edited\n`);
  check(!upToDate(), 'build-web.sh --check: edited threaded-build flags need a build');
  build();
  writeFileSync(`${dir}/shaders/b.wgsl`, '// b\n');
  check(!upToDate(), 'build-web.sh --check: a new shader needs a build');
  build();
  rmSync(`${dir}/web/pkg/single/svdtune_bg.wasm`);
  check(!upToDate(), 'build-web.sh --check: a missing single-threaded module needs a build');
  build();
  rmSync(`${dir}/web/pkg/simd/svdtune.js`);
  check(!upToDate(), 'build-web.sh --check: a missing threaded module without relaxed SIMD needs a build');
  build();
  rmSync(`${dir}/web/pkg/svdtune_bg.wasm`);
  check(!upToDate(), 'build-web.sh --check: a missing module needs a build');
} catch (e) {
  check(false, `build-web.sh: ${e.stack ?? e}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed() ? 1 : 0);
