// The training page's model downloads: the merged Hugging Face folder as a zip and the merged
// model as one GGUF file for llama.cpp (each streamed by the worker into a file in browser
// storage, then saved), and the PEFT LoRA adapter as a zip, each with its status line. The training log's downloads are run_view.js's.
import { $, fmt, setStatus } from './dom.js';
import { save } from './files.js';

// `request(cmd)`: the engine worker; `modelName()`: the loaded model's name, for the file names.
export function downloads(request, modelName) {
  // `dtype`: the merged tensors' dtype (source: as loaded; f32, f16, bf16).
  async function merged(dtype = 'source') {
    $('dl-progress').hidden = false;
    setStatus($('dl-status'), 'Writing the merged model…');
    try {
      const info = await request('exportMerged', { dtype });
      save(info.file, `${modelName()}-svdtune.zip`);
      setStatus($('dl-status'), `Merged model: ${info.files.join(', ')} (${fmt(info.bytes)} bytes).`, 'ok');
    } catch (e) {
      setStatus($('dl-status'), `Cannot export: ${e.message}`, 'bad');
    } finally {
      $('dl-progress').hidden = true;
    }
  }

  // `type`: the GGUF type of the matrices (f16, bf16, q8_0).
  async function gguf(type) {
    $('dl-progress').hidden = false;
    setStatus($('dl-status'), `Writing the merged model as GGUF (${type.toUpperCase()})…`);
    try {
      const info = await request('exportGguf', { type });
      const name = `${modelName()}-svdtune-${type}.gguf`;
      save(info.file, name);
      const tok = info.tokenizer ? ', with its tokenizer' : '';
      setStatus($('dl-status'), `GGUF: ${name}, ${info.architecture}, ${fmt(info.tensors)} tensors${tok} (${fmt(info.bytes)} bytes).`, 'ok');
    } catch (e) {
      setStatus($('dl-status'), `Cannot export the GGUF file: ${e.message}`, 'bad');
    } finally {
      $('dl-progress').hidden = true;
    }
  }

  async function adapter() {
    try {
      const bytes = await request('exportAdapter');
      save(new Blob([bytes], { type: 'application/zip' }), `${modelName()}-adapter.zip`);
      setStatus($('dl-status'), `PEFT adapter (${fmt(bytes.length)} bytes).`, 'ok');
    } catch (e) {
      setStatus($('dl-status'), `Cannot export the adapter: ${e.message}`, 'bad');
    }
  }

  return { merged, gguf, adapter };
}
