// The worker owns the wasm engine; the pages only send requests and render what comes back.
// Protocol (requests, replies with {kind, message} errors, progress): client.js. Session calls run
// one at a time (a generate request waits for the current training step or loss batch, not for
// the whole run). It never renders a chat template: data files and prompts arrive as token ids
// from the page's data worker (data_worker.js).
// A run's phases: the decomposition (the train request's progress; Stop ends it between layers
// and the model is as loaded), the evaluation before the first step, the steps with the
// evaluations due after them, and the loss over the whole file (or a sample of it, or none: the
// train request's `fullLoss`) once at least one step ran. Evaluations and that final pass run one
// batch per engine call, so Stop ends them between batches and a Generate or a download waits at
// most one batch. Stop during the steps ends the run after that step; the final pass still runs
// (Stop again ends it).
// Downloads (the merged zip, the GGUF file) stream out of the engine into a file in the origin's
// private storage (exportToStorage), in memory when that storage is unavailable or full.
// The engine is chosen here, from the browser's adapter (adapter.js): `open` takes a mode ('auto',
// 'gpu', 'cpu') and answers the backend with `{engine: {mode, adapter, software}}`.
// `generate` streams: progress {what: 'original' | 'current', done: tokens, total: max new
// tokens, name: the answer so far, ms} after each token.
// Events: {type: 'ready'}, {type: 'step', step}, {type: 'eval', step, loss},
// {type: 'phase', phase: 'eval' | 'file', step, done, total, ms, examples, of} (a loss batch),
// {type: 'run', state: 'training' | 'paused' | 'final' | 'done' | 'stopped' | 'error', kind,
// message, full: {loss, examples, of} | null, steps} ('final': the loss over the file runs),
// The merged-model download is streamed into a file in browser storage (OPFS) and handed to the
// page as a File, so the archive is never held in memory (in memory only where OPFS is missing).
// The build (threaded where the page is cross-origin isolated, else single-threaded) and the
// pool's size: engine_pkg.js; `open` answers them as `threads` {threaded, threads, isolated, asked}.
import { loadEngine } from './engine_pkg.js';
import { chooseEngine } from './adapter.js';
import { describeError, serve } from './client.js';

let session = null;
let engine = null; // {pkg, threads} once loaded (engine_pkg.js)
let tail = Promise.resolve();
const loop = { running: false, paused: false, stop: false, wake: null };
let estimates = 0;
// Faults the page's test hooks (`?test`) can inject: storage that is full; a slow engine (at
// least `slowMs` per decomposed layer, loss batch and step, so a test can act mid-phase).
const faults = { storageFull: false, slowMs: 0 };

// Runs fn after every earlier engine call has finished.
function exclusive(fn) {
  const p = tail.then(fn);
  tail = p.catch(() => {});
  return p;
}

// One turn of the event loop without setTimeout's 4 ms clamp on nested timers (generation
// yields after every token, which can take a millisecond or less; the loops below after every
// step and loss batch). A message that has already arrived (Stop, Pause) runs first.
const turn = new MessageChannel();
const waiting = [];
turn.port1.onmessage = () => waiting.shift()?.();
const nextTurn = () => new Promise((r) => { waiting.push(r); turn.port2.postMessage(null); });

// Between steps and loss batches: one turn, or `slowMs` when a test made the engine slow.
const yieldToMessages = () => (faults.slowMs ? new Promise((r) => setTimeout(r, faults.slowMs)) : nextTurn());

async function opfsDir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle('svdtune', { create: true });
}

function quotaError() {
  return new DOMException('the storage quota is exceeded', 'QuotaExceededError');
}

// What a failed write to browser storage means for the user.
function storageMessage(e, what) {
  return e?.name === 'QuotaExceededError'
    ? `browser storage is full: ${what} was not saved (free space for this site in the browser's settings)`
    : `${what} could not be saved to browser storage: ${e?.message ?? e}`;
}

async function writeFile(dir, name, data) {
  if (faults.storageFull) throw quotaError();
  const handle = await dir.getFileHandle(name, { create: true });
  const access = await handle.createSyncAccessHandle();
  try {
    access.truncate(0);
    access.write(typeof data === 'string' ? new TextEncoder().encode(data) : data, { at: 0 });
    access.flush();
  } finally {
    access.close();
  }
}

// Writes the checkpoint to browser storage (OPFS): the bytes under a name of their own, then the
// run's description naming them (the commit point: a crash mid-write leaves the previous pair),
// then older checkpoints are removed.
async function saveCheckpoint(meta) {
  const bytes = await exclusive(() => session.checkpoint());
  const dir = await opfsDir();
  const file = `checkpoint-${meta.step}.bin`;
  await writeFile(dir, file, bytes);
  await writeFile(dir, 'checkpoint.json', JSON.stringify({ ...meta, file }));
  const old = [];
  for await (const name of dir.keys()) if (name.startsWith('checkpoint-') && name !== file) old.push(name);
  for (const name of old) await dir.removeEntry(name).catch(() => {});
  return bytes.length;
}

async function readCheckpoint() {
  try {
    const dir = await opfsDir();
    const meta = JSON.parse(await (await (await dir.getFileHandle('checkpoint.json')).getFile()).text());
    const bytes = new Uint8Array(await (await (await dir.getFileHandle(meta.file)).getFile()).arrayBuffer());
    return { meta, bytes };
  } catch {
    return null;
  }
}

// A loss pass ('eval': the eval split; 'file': the whole file, or about `examples` of it), one
// batch per engine call with a 'phase' event after each. Resolves to {info, loss} (loss null when
// there is nothing to evaluate) or {info, stopped: true} when Stop ended it.
async function lossPass(kind, examples, step) {
  const info = await exclusive(() => session.beginPass(kind, examples ?? undefined));
  if (info.batches === 0) return { info, loss: null };
  const phase = (r) => postMessage({ type: 'phase', phase: kind, step, examples: info.examples, of: info.of, ...r });
  phase({ done: 0, total: info.batches });
  for (;;) {
    if (loop.stop) return { info, stopped: true };
    const r = await exclusive(() => session.passBatch());
    phase({ done: r.done, total: r.total, ms: r.ms });
    if (r.loss != null) return { info, loss: r.loss };
    await yieldToMessages();
  }
}

// An evaluation after `step`: posts its loss; false when Stop ended it.
async function evaluate(step) {
  const e = await lossPass('eval', undefined, step);
  if (e.loss != null) postMessage({ type: 'eval', step, loss: e.loss });
  return !e.stopped;
}

// The run after its decomposition: the first evaluation, then steps until the run is done or
// stopped, storing a checkpoint whenever the engine's step says one is due (the cadence is the
// engine's: `checkpointEvery` given to `session.start`), then the loss over the file
// (`fullLoss`: 0 none, a number of examples, null all of them) when a step ran.
async function trainLoop(meta, from, fullLoss) {
  postMessage({ type: 'run', state: 'training' });
  let state = 'done';
  let steps = 0;
  try {
    if (!(await evaluate(from))) state = 'stopped';
    while (state !== 'stopped') {
      if (loop.stop) { state = 'stopped'; break; }
      if (loop.paused) {
        postMessage({ type: 'run', state: 'paused' });
        await new Promise((r) => { loop.wake = r; });
        if (!loop.stop) postMessage({ type: 'run', state: 'training' });
        continue;
      }
      const step = await exclusive(() => session.step());
      steps += 1;
      postMessage({ type: 'step', step });
      if (step.due.eval) {
        await yieldToMessages();
        if (!(await evaluate(step.step))) { state = 'stopped'; break; }
      }
      if (step.done) break;
      if (step.checkpoint_due) {
        try {
          const size = await saveCheckpoint({ ...meta, step: step.step });
          postMessage({ type: 'checkpoint', step: step.step, bytes: size });
        } catch (e) {
          postMessage({ type: 'checkpoint', step: step.step, error: `${storageMessage(e, `the checkpoint of step ${step.step}`)}; training goes on` });
        }
      }
      await yieldToMessages();
    }
    let full = null;
    if (steps > 0 && fullLoss !== 0) {
      loop.stop = false;
      postMessage({ type: 'run', state: 'final', ended: state });
      const f = await lossPass('file', fullLoss, null);
      if (!f.stopped && f.loss != null) full = { loss: f.loss, examples: f.info.examples, of: f.info.of };
    }
    postMessage({ type: 'run', state, full, steps });
  } catch (e) {
    postMessage({ type: 'run', state: 'error', ...describeError(e) });
  }
}

// Streams an export into `file` in browser storage (in memory when that storage is unavailable
// or full) and returns it as a File: `run(onChunk)` is the engine call, `what` names it in errors.
async function exportToStorage(file, type, what, run) {
  let access = null;
  let dir = null;
  try {
    if (faults.storageFull) throw quotaError();
    dir = await opfsDir();
    access = await (await dir.getFileHandle(file, { create: true })).createSyncAccessHandle();
    access.truncate(0);
  } catch {
    access = null;
  }
  const parts = [];
  let at = 0;
  try {
    const info = await exclusive(() => run((chunk) => {
      if (!access) { parts.push(chunk); return; }
      try {
        at += access.write(chunk, { at });
      } catch (e) {
        throw new Error(storageMessage(e, what));
      }
    }));
    if (!access) return { ...info, file: new Blob(parts, { type }) };
    access.flush();
    access.close();
    access = null;
    return { ...info, file: await (await dir.getFileHandle(file)).getFile() };
  } finally {
    access?.close();
  }
}

// The merged model as a zip (`dtype`: source, f32, f16 or bf16), streamed into `export.zip` in
// browser storage.
const exportMerged = (dtype, progress) => exportToStorage('export.zip', 'application/zip', 'the merged model',
  (onChunk) => session.exportMerged(dtype, onChunk, progress('export')));

// The merged model as one GGUF file (`ty`: f16, bf16 or q8_0), streamed into `export.gguf`.
const exportGguf = (ty, progress) => exportToStorage('export.gguf', 'application/octet-stream', 'the GGUF file',
  (onChunk) => session.exportGguf(ty, onChunk, progress('export')));

const commands = {
  check: () => engine.pkg.engineCheck(),
  async open({ mode = 'auto', bindingCap, memoryCap }) {
    if (loop.running) throw new Error('training is running');
    await tail; // a model being loaded, a generation: the old engine finishes them first
    session?.free();
    session = null;
    tail = Promise.resolve();
    const choice = await chooseEngine(mode);
    session = await engine.pkg.Session.open(choice.cpuOnly, bindingCap ?? undefined, memoryCap ?? undefined);
    return {
      ...session.backend(),
      engine: { mode, adapter: choice.adapter, software: choice.software },
      threads: engine.threads,
    };
  },
  loseDevice: () => session.loseDevice(),
  // The matrix tiles of this GPU (gpu_tiles.js): measured, or as kept from an earlier visit.
  measureTiles: ({ small }) => exclusive(() => session.measureTiles(Boolean(small))),
  setTiles: ({ wideTiles }) => exclusive(() => session.setTiles(wideTiles)),
  injectFault({ storageFull, slowMs }) {
    if (storageFull !== undefined) faults.storageFull = Boolean(storageFull);
    if (slowMs !== undefined) faults.slowMs = Number(slowMs) || 0;
  },
  loadModel: ({ name, names, files }, { progress }) => exclusive(() => session.loadModel(name, names, files, progress('load'))),
  textFiles: () => exclusive(() => session.textFiles()),
  // The memory table of the model in `files` (headers only; the engine is not taken).
  memory: ({ names, files, options }) => session.memory(names, files, options),
  plan: ({ rankFraction, freezeNorms }) => exclusive(() => session.plan(rankFraction, freezeNorms)),
  setData: ({ name, encoded, options }) => exclusive(() => {
    session.setData(name, encoded);
    return session.dataInfo(options);
  }),
  dataInfo: ({ options }) => exclusive(() => session.dataInfo(options)),
  // Resolves to the engine's start info once the model is decomposed (the run goes on in
  // trainLoop), or to {stopped: true} when Stop ended the decomposition.
  async train({ options, checkpointEvery, meta, resume, fullLoss }, { progress }) {
    if (loop.running) throw new Error('training is already running');
    Object.assign(loop, { running: true, paused: false, stop: false });
    let started = false;
    try {
      const report = progress('decompose');
      const until = (done, total, name) => {
        report(done, total, name);
        // The engine yields to this worker's messages after each layer: Stop is seen there.
        for (const end = performance.now() + faults.slowMs; performance.now() < end;);
        return !loop.stop;
      };
      const info = await exclusive(() => session.start(options, until, checkpointEvery || 0));
      if (!info) return { stopped: true };
      if (resume) {
        const saved = await readCheckpoint();
        if (!saved) throw new Error('no checkpoint in browser storage');
        const at = await exclusive(() => session.resume(saved.bytes));
        info.resumed_step = at.step;
      }
      started = true;
      // After the reply: the page has the start info before the run's first event.
      setTimeout(() => trainLoop(meta, info.resumed_step ?? 0, fullLoss).finally(() => { loop.running = false; }), 0);
      return info;
    } finally {
      if (!started) loop.running = false;
    }
  },
  // How long a run with `options` takes (see Session.estimate); null when a newer request
  // replaced this one before it ran.
  estimate({ options, finalExamples }) {
    const mine = ++estimates;
    return exclusive(() => (mine === estimates ? session.estimate(options, finalExamples ?? undefined) : null));
  },
  pause() { loop.paused = true; },
  resume() { loop.paused = false; loop.wake?.(); },
  stop() { loop.stop = true; loop.wake?.(); },
  savedCheckpoint: async () => (await readCheckpoint())?.meta ?? null,
  async forgetCheckpoint() {
    const dir = await opfsDir();
    const names = [];
    for await (const name of dir.keys()) names.push(name);
    for (const name of names) await dir.removeEntry(name).catch(() => {});
  },
  // `both`: also the current Σ (false before a run has trained: it is the model as loaded).
  async generate({ ids, maxNewTokens, both = true }, { progress }) {
    // Each token's update is posted, then the engine waits for the next turn of the event loop.
    const stream = (what) => (text, tokens, ms) => {
      progress(what)(tokens, maxNewTokens, text, { ms });
      return nextTurn();
    };
    const original = await exclusive(() => session.generate(ids, maxNewTokens, true, stream('original')));
    const current = both ? await exclusive(() => session.generate(ids, maxNewTokens, false, stream('current'))) : original;
    return { original, current };
  },
  exportMerged: ({ dtype = 'source' }, { progress }) => exportMerged(dtype, progress),
  exportGguf: ({ type }, { progress }) => exportGguf(type, progress),
  exportAdapter: () => exclusive(() => session.exportAdapter()),
};

const ready = loadEngine().then(
  (e) => { engine = e; postMessage({ type: 'ready' }); },
  (e) => postMessage({ type: 'error', message: `the engine failed to load: ${e}` }),
);

serve(commands, {
  ready,
  check(cmd) {
    if (cmd !== 'check' && cmd !== 'open' && !session) throw new Error('the engine is not open yet');
  },
});
