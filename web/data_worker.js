// The data worker: renders chat templates and runs tokenizers for the page, in a wasm instance
// (and memory) of its own, so that a hostile template from a model folder (one that loops, or
// recurses until the stack runs out, or allocates until memory does) can only end this worker.
// The page ends it after a time budget or when it dies, and starts a new one for the next job.
// Commands (protocol in client.js): encodeDataset {model, name, file, options} → Uint8Array for
// the engine's setData; encodePrompt {model, prompt} → Uint32Array of prompt ids for generate.
// `model` is [{name, file}]: the model's tokenizer and template files. It loads the
// single-threaded build (web/pkg/single): tokenizing needs no pool, and its memory is not shared.
import init, { encodeDataset, encodePrompt } from './pkg/single/svdtune.js';
import { serve } from './client.js';

let wasm = null;
const ready = init().then((w) => { wasm = w; });

serve({
  encodeDataset: ({ model, name, file, options }) => encodeDataset(model, name, file, options),
  encodePrompt: ({ model, prompt }) => encodePrompt(model, prompt),
}, { ready, memory: () => wasm?.memory?.buffer?.byteLength ?? 0 });
