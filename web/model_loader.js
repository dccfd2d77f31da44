// The training page's model: a folder or files given (dropped, picked, from the Hub or the demo)
// are loaded into the engine, with its details, the SVD plan (model_view.js) and the memory table
// of a run (memory_view.js) at the current settings. A newly given folder's chat template is
// tried in the data worker first (on a one-message prompt, then on the data file), so a hostile
// or broken one leaves the loaded model and its training as they were (the model's status line
// says so). The data file given earlier is read again for the new model.
import { $, dl, fmt, setStatus } from './dom.js';
import { TEXT_FILES, dataJob } from './data_client.js';
import { clearData, plural, showPicked } from './data_view.js';
import { clearMemory, renderMemory } from './memory_view.js';
import { clearModel, markKept, renderPlan, unmarkKept } from './model_view.js';

// `state`: the page's state (model, modelInput, textFiles, memory, dataFile, data, start,
// backend); `request`: the engine's; `options()`: the settings' options or null;
// `updateButtons()`: the page's; `budget`, `encodeData`, `loadData`: the data file's
// (data_loader.js). Returns {loadModel, refreshPlan, refreshMemory}.
export function modelLoader({ state, request, options, updateButtons, budget, encodeData, loadData }) {
  async function refreshPlan() {
    if (!state.model) return;
    const o = options();
    if (!o) return;
    try {
      renderPlan(await request('plan', { rankFraction: o.rank_fraction, freezeNorms: o.freeze_norms }));
    } catch (e) {
      $('settings-error').textContent = e.message;
    }
  }

  // The memory table (memory_view.js) of the model in `entries` at the current settings, from its
  // config and headers; clears it when the engine cannot read them (loading says why).
  async function refreshMemory(entries = state.modelInput?.entries) {
    const o = options();
    if (!entries || !o) return;
    try {
      state.memory = await request('memory', { names: entries.map((e) => e.name), files: entries.map((e) => e.file), options: o });
      renderMemory(state.memory);
    } catch {
      state.memory = null;
      clearMemory();
    }
    updateButtons();
  }

  // Tries a new folder's chat template in the data worker before the engine takes the folder: on a
  // one-message prompt, then on the data file when there is one (its encoding is kept for the new
  // model). Throws when the template runs out of time, dies, cannot render the prompt, or fails on
  // every record of the data file (kind 'template'); the data file's own faults do not count.
  async function tryTemplate(entries) {
    const files = entries.filter((e) => TEXT_FILES.includes(e.name));
    if (!files.some((f) => f.name === 'tokenizer.json')) return null; // GGUF, or refused by the engine
    await dataJob('encodePrompt', { model: files, prompt: 'Hello' }, files, null, budget());
    const o = options();
    if (!state.dataFile || !o) return null;
    try {
      return { file: state.dataFile, options: o, encoded: await encodeData(files, state.dataFile, o) };
    } catch (e) {
      if (e.kind !== 'invalid' && e.kind !== 'bad-input') throw e;
      return null; // the data file's own faults are reported once the model is loaded
    }
  }

  // `input`: {folder, entries: [{name, file}]}.
  async function loadModel(input) {
    const { folder, entries } = input;
    if (entries.length === 0) return;
    const status = $('model-status');
    setStatus(status, `Checking the chat template of ${folder}…`);
    let pre = null;
    try {
      pre = await tryTemplate(entries);
    } catch (e) {
      const kept = state.model ? ` ${state.model.name} stays loaded${state.start ? ', with its training' : ''}.` : '';
      setStatus(status, `Cannot load ${folder}: ${e.message}.${kept}`, 'bad');
      if (state.model) markKept(state.model.name, folder);
      status.dataset.kind = e.kind;
      return;
    }
    delete status.dataset.kind;
    state.modelInput = input;
    setStatus(status, `Loading ${folder} (${plural(entries.length, 'file')})…`);
    $('model-progress').hidden = false;
    state.model = null;
    clearModel();
    showPicked('model-picked', null);
    updateButtons();
    await refreshMemory(entries);
    try {
      const info = await request('loadModel', {
        name: folder, names: entries.map((e) => e.name), files: entries.map((e) => e.file),
      });
      state.textFiles = await request('textFiles');
      state.model = info;
      const s = info.summary;
      dl($('model-info'), [
        ['Family', s.model_type],
        ['Layers', `${s.num_layers} (hidden ${s.hidden_size}, MLP ${s.intermediate_size}, ${s.num_heads} heads / ${s.num_kv_heads} KV × ${s.head_dim})`],
        ['Parameters', fmt(s.model_params)],
        ['Weights', info.dtype ?? 'unknown'],
        ['Vocabulary', `${fmt(s.vocab_size)}${s.tie_word_embeddings ? ', tied embeddings' : ''}`],
        ['Context', fmt(s.max_position_embeddings)],
      ]);
      setStatus(status, info.template_notice ? `Loaded ${folder}. ${info.template_notice}` : `Loaded ${folder}.`, 'ok');
      unmarkKept();
      showPicked('model-picked', folder);
      await refreshPlan();
      if (state.dataFile) await loadData(state.dataFile, pre);
    } catch (e) {
      const hint = e.kind === 'binding-too-large' && state.backend?.gpu
        ? '. This GPU cannot hold that tensor in one binding; open the page with ?cpu at the end of the address to train on the CPU engine.' : '';
      setStatus(status, `Cannot load the model: ${e.message}${hint}`, 'bad');
      clearModel();
      state.memory = null;
      clearMemory();
      state.data = null;
      clearData();
    } finally {
      $('model-progress').hidden = true;
      updateButtons();
    }
  }

  return { loadModel, refreshPlan, refreshMemory };
}
