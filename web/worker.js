// The worker owns the wasm engine; the pages only send requests and render what comes back.
// Protocol (requests, replies with {kind, message} errors, progress): client.js. Session calls run
// one at a time (a generate request waits for the current training step, not for the whole run).
// It never renders a chat template: data files and prompts arrive as token ids from the page's
// data worker (data_worker.js).
// The engine is chosen here, from the browser's adapter (adapter.js): `open` takes a mode ('auto',
// 'gpu', 'cpu') and answers the backend with `{engine: {mode, adapter, software}}`.
// `generate` streams: progress {what: 'original' | 'current', done: tokens, total: max new
// tokens, name: the answer so far, ms} after each token.
// Events: {type: 'ready'}, {type: 'step', step},
// {type: 'run', state: 'training' | 'paused' | 'done' | 'stopped' | 'error', kind, message, ...},
// The merged-model download is streamed into a file in browser storage (OPFS) and handed to the
// page as a File, so the archive is never held in memory (in memory only where OPFS is missing).
import init, { engineCheck, Session } from './pkg/svdtune.js';
import { chooseEngine } from './adapter.js';
import { describeError, serve } from './client.js';

let session = null;
let tail = Promise.resolve();
const loop = { running: false, paused: false, stop: false, wake: null };
// Faults the page's test hooks (`?test`) can inject: storage that is full.
const faults = { storageFull: false };

// Runs fn after every earlier engine call has finished.
function exclusive(fn) {
  const p = tail.then(fn);
  tail = p.catch(() => {});
  return p;
}

const yieldToMessages = () => new Promise((r) => setTimeout(r, 0));

// One turn of the event loop without setTimeout's 4 ms clamp on nested timers (generation
// yields after every token, which can take a millisecond or less).
const turn = new MessageChannel();
const waiting = [];
turn.port1.onmessage = () => waiting.shift()?.();
const nextTurn = () => new Promise((r) => { waiting.push(r); turn.port2.postMessage(null); });

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

// Steps until the run is done or stopped; stores a checkpoint whenever the engine's step says one
// is due (the cadence is the engine's: `checkpointEvery` given to `session.start`).
async function trainLoop(meta) {
  loop.running = true;
  postMessage({ type: 'run', state: 'training' });
  let state = 'done';
  try {
    for (;;) {
      if (loop.stop) { state = 'stopped'; break; }
      if (loop.paused) {
        postMessage({ type: 'run', state: 'paused' });
        await new Promise((r) => { loop.wake = r; });
        if (!loop.stop) postMessage({ type: 'run', state: 'training' });
        continue;
      }
      const step = await exclusive(() => session.step());
      postMessage({ type: 'step', step });
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
    const fullLoss = await exclusive(() => session.fullLoss());
    postMessage({ type: 'run', state, fullLoss });
  } catch (e) {
    postMessage({ type: 'run', state: 'error', ...describeError(e) });
  } finally {
    loop.running = false;
  }
}

// Streams the merged model into `export.zip` in browser storage and returns it as a File.
async function exportMerged(progress) {
  let access = null;
  let dir = null;
  try {
    if (faults.storageFull) throw quotaError();
    dir = await opfsDir();
    access = await (await dir.getFileHandle('export.zip', { create: true })).createSyncAccessHandle();
    access.truncate(0);
  } catch {
    access = null;
  }
  const parts = [];
  let at = 0;
  try {
    const info = await exclusive(() => session.exportMerged((chunk) => {
      if (!access) { parts.push(chunk); return; }
      try {
        at += access.write(chunk, { at });
      } catch (e) {
        throw new Error(storageMessage(e, 'the merged model'));
      }
    }, progress('export')));
    if (!access) return { ...info, file: new Blob(parts, { type: 'application/zip' }) };
    access.flush();
    access.close();
    access = null;
    return { ...info, file: await (await dir.getFileHandle('export.zip')).getFile() };
  } finally {
    access?.close();
  }
}

const commands = {
  check: () => engineCheck(),
  async open({ mode = 'auto', bindingCap, memoryCap }) {
    if (loop.running) throw new Error('training is running');
    await tail; // a model being loaded, a generation: the old engine finishes them first
    session?.free();
    session = null;
    tail = Promise.resolve();
    const choice = await chooseEngine(mode);
    session = await Session.open(choice.cpuOnly, bindingCap ?? undefined, memoryCap ?? undefined);
    return { ...session.backend(), engine: { mode, adapter: choice.adapter, software: choice.software } };
  },
  loseDevice: () => session.loseDevice(),
  injectFault({ storageFull }) { faults.storageFull = Boolean(storageFull); },
  loadModel: ({ name, names, files }, { progress }) => exclusive(() => session.loadModel(name, names, files, progress('load'))),
  textFiles: () => exclusive(() => session.textFiles()),
  plan: ({ rankFraction, freezeNorms }) => exclusive(() => session.plan(rankFraction, freezeNorms)),
  setData: ({ name, encoded, options }) => exclusive(() => {
    session.setData(name, encoded);
    return session.dataInfo(options);
  }),
  dataInfo: ({ options }) => exclusive(() => session.dataInfo(options)),
  async train({ options, checkpointEvery, meta, resume }, { progress }) {
    if (loop.running) throw new Error('training is already running');
    const info = await exclusive(() => session.start(options, progress('decompose'), checkpointEvery || 0));
    if (resume) {
      const saved = await readCheckpoint();
      if (!saved) throw new Error('no checkpoint in browser storage');
      const at = await exclusive(() => session.resume(saved.bytes));
      Object.assign(info, { resumed_step: at.step, eval_loss: at.eval_loss });
    }
    Object.assign(loop, { paused: false, stop: false });
    trainLoop(meta);
    return info;
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
  fullLoss: () => exclusive(() => session.fullLoss()),
  exportMerged: (_, { progress }) => exportMerged(progress),
  exportAdapter: () => exclusive(() => session.exportAdapter()),
};

const ready = init().then(
  () => postMessage({ type: 'ready' }),
  (e) => postMessage({ type: 'error', message: `the engine failed to load: ${e}` }),
);

serve(commands, {
  ready,
  check(cmd) {
    if (cmd !== 'check' && cmd !== 'open' && !session) throw new Error('the engine is not open yet');
  },
});
