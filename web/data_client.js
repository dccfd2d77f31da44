// The page's side of the data worker (data_worker.js): chat templates and tokenizers run there,
// in a wasm instance of their own, within a time budget. A worker that ran out of time or died is
// ended, and the next job starts a new one; failures name the template's file and the data file.
import { connect, WorkerError } from './client.js';

// The files of a model folder the data worker reads (src/data/model_files.rs TEXT_FILES).
export const TEXT_FILES = ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'generation_config.json'];
let dataWorker = null;

// Where the chat template of `files` ([{name}]) comes from, as the engine picks it.
const templateFile = (files) => (files.some((f) => f.name === 'chat_template.jinja') ? 'chat_template.jinja' : 'tokenizer_config.json');

// Runs `cmd` in the data worker (started when needed) within `seconds`. Failures are
// WorkerErrors whose message names `files`' template and `dataName` and says why.
export async function dataJob(cmd, args, files, dataName, seconds) {
  if (!dataWorker || dataWorker.ended) dataWorker = connect('data_worker.js');
  try {
    return await dataWorker.request(cmd, args, { timeoutMs: seconds * 1000 });
  } catch (e) {
    if (e.kind === 'template' || e.kind === 'timeout' || e.kind === 'stack-overflow' || e.kind === 'wasm-abort' || e.kind === 'worker-died') {
      const on = dataName ? ` reading ${dataName}` : '';
      const ended = e.kind === 'template' ? '' : '; the data worker was ended';
      // The engine's own "chat template: " prefix would say it twice.
      const why = e.message.replace(/^chat template: /, '');
      throw new WorkerError(e.kind, `the chat template (${templateFile(files)})${on}: ${why}${ended}`);
    }
    throw e;
  }
}

// The time budget in seconds for a data file of `bytes`: `base` (the "Data time limit"
// setting) plus 5 s per MB.
export const dataBudget = (base, bytes = 0) => base + 5 * (bytes / 1e6);
