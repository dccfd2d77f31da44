// The worker protocol, in one place: web/worker.js (the engine) and web/data_worker.js (chat
// templates and tokenizers) serve it with `serve`; the pages speak it with `connect`.
//
// Page → worker: {id, cmd, ...args}. Worker → page: {type: 'reply', id, ok: true, result} or
// {type: 'reply', id, ok: false, error: {kind, message}}; {type: 'progress', id, what, done,
// total, name, ...extra} while request `id` runs; {type: 'ready'} once the engine is loaded; any other
// {type, ...} is an event (training steps, run states, checkpoints).
//
// Errors are `WorkerError`s with a machine-readable `kind`: the engine's own kinds (src/error.rs
// `Error::kind`: 'device-lost', 'binding-too-large', 'out-of-memory', 'template', 'bad-input', …)
// and, for a worker that failed outside the engine's control: 'stack-overflow' (its wasm stack
// ran out), 'wasm-abort' (its wasm instance trapped: a failed allocation, or a bug),
// 'worker-died' (the worker itself failed), 'timeout' (a request's time budget ran out: the page
// ended the worker), 'ended' (the worker was ended while the request ran), 'error' (anything
// else). After the first three the worker's wasm instance cannot be trusted: `connect` ends it.

export class WorkerError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'WorkerError';
    this.kind = kind;
  }
}

// Kinds after which a worker's wasm instance is dead or inconsistent.
export const FATAL = new Set(['stack-overflow', 'wasm-abort', 'worker-died']);

// {kind, message} for any thrown value: an engine Error carries its kind; a trapped wasm
// instance throws a RangeError or InternalError (stack) or a WebAssembly.RuntimeError;
// `memoryBytes` (the wasm memory's size, when known) tells an abort for want of memory from
// other aborts.
export function describeError(e, memoryBytes = 0) {
  const message = String(e?.message ?? e);
  if (typeof e?.kind === 'string') return { kind: e.kind, message };
  // Chromium: RangeError "Maximum call stack size exceeded"; Firefox: InternalError "too much
  // recursion" (and "out of memory").
  const engineError = e?.name === 'RangeError' || e?.name === 'InternalError';
  if (engineError && /call stack|too much recursion/i.test(message)) {
    return { kind: 'stack-overflow', message: 'it ran out of stack (a template that recurses too deeply?)' };
  }
  if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) {
    const oom = /memory/i.test(message) || memoryBytes >= 2 ** 31;
    return oom
      ? { kind: 'wasm-abort', message: `it ran out of memory (${Math.round(memoryBytes / 2 ** 20)} MiB in use)` }
      : { kind: 'wasm-abort', message: `its engine stopped (${message})` };
  }
  if (engineError && /memory|allocation/i.test(message)) {
    return { kind: 'wasm-abort', message: `it ran out of memory (${message})` };
  }
  return { kind: 'error', message };
}

// Inside a worker: answers requests with `commands[cmd](args, {progress})` once `ready` resolves.
// `check(cmd)` may throw to refuse a command; `memory()` gives the wasm memory's size in bytes.
export function serve(commands, { ready = Promise.resolve(), check = () => {}, memory = () => 0 } = {}) {
  onmessage = async ({ data }) => {
    const { id, cmd } = data;
    try {
      await ready;
      if (!commands[cmd]) throw new Error(`unknown command ${cmd}`);
      check(cmd);
      const progress = (what) => (done, total, name, extra = {}) => postMessage({ ...extra, type: 'progress', id, what, done, total, name });
      const result = await commands[cmd](data, { progress });
      const transfer = ArrayBuffer.isView(result) ? [result.buffer] : [];
      postMessage({ type: 'reply', id, ok: true, result }, transfer);
    } catch (e) {
      postMessage({ type: 'reply', id, ok: false, error: describeError(e, memory()) });
    }
  };
}

// In a page: starts the module worker at `url`. `onEvent(message)` gets every message that is
// not a reply or a request's progress; `onEnd(error)` is called once if the worker dies or is
// ended. Returns {request, end, ended}.
export function connect(url, { onEvent = () => {}, onEnd = () => {} } = {}) {
  const worker = new Worker(url, { type: 'module' });
  const pending = new Map();
  let nextId = 1;
  let ended = null;

  function end(error = new WorkerError('ended', 'the worker was ended')) {
    if (ended) return;
    ended = error;
    worker.terminate();
    for (const p of pending.values()) p.fail(error);
    pending.clear();
    onEnd(error);
  }

  worker.onmessage = ({ data }) => {
    const p = data.id !== undefined ? pending.get(data.id) : undefined;
    if (data.type === 'reply') {
      if (!p) return;
      pending.delete(data.id);
      if (data.ok) p.resolve(data.result);
      else {
        const err = new WorkerError(data.error.kind, data.error.message);
        p.fail(err);
        if (FATAL.has(err.kind)) end(err);
      }
    } else if (data.type === 'progress' && p?.onProgress) {
      p.onProgress(data);
    } else {
      onEvent(data);
    }
  };
  worker.onerror = (e) => {
    e.preventDefault?.();
    end(new WorkerError('worker-died', `the worker failed (${e.message || 'it was out of memory or crashed'})`));
  };

  // Sends `cmd` with `args`; resolves to the result, rejects with a WorkerError. Options:
  // `transfer` (buffers handed over), `onProgress(message)`, `timeoutMs` (then the worker is
  // ended and the request fails with kind 'timeout').
  function request(cmd, args = {}, { transfer = [], onProgress, timeoutMs } = {}) {
    if (ended) return Promise.reject(ended);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      let timer = null;
      const settle = (fn) => (v) => { clearTimeout(timer); fn(v); };
      pending.set(id, { resolve: settle(resolve), fail: settle(reject), onProgress });
      if (timeoutMs) {
        timer = setTimeout(() => end(new WorkerError('timeout', `it took longer than ${Math.round(timeoutMs / 100) / 10} s`)), timeoutMs);
      }
      worker.postMessage({ id, cmd, ...args }, transfer);
    });
  }

  return { request, end, get ended() { return ended; } };
}
