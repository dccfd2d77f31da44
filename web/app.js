// The training page: talks to the engine worker (worker.js) and renders the model, the plan, the
// data, live training, generation and downloads. No framework; every control is a native one.
// This module holds the page's state, the buttons' states, the worker's events and the wiring of
// the controls; each part is a module of its own: settings_form.js reads and writes the settings,
// model_loader.js loads a model (its chat template tried in the data worker first, so a hostile
// one leaves the loaded model and its training as they were), data_loader.js reads the data file
// in the data worker (data_client.js: chat templates and tokenizers in their own wasm instance,
// ended after the "Data time limit" setting), run_control.js starts, pauses and stops a run and
// follows its events, engine_switch.js opens the engine and opens it again (the Engine setting,
// a lost GPU device), resume_offer.js offers the checkpoint in browser storage, hub_view.js gets
// a model from the Hugging Face Hub, downloads.js exports the merged model and the adapter.
import { connect } from './client.js';
import { dataJob } from './data_client.js';
import { dataLoader } from './data_loader.js';
import { dropZone, fromDrop, fromInput, save } from './files.js';
import { markSeqLenSet } from './data_view.js';
import { answerColumns } from './model_view.js';
import { memoryRefusal } from './memory_view.js';
import { $, setStatus } from './dom.js';
import { demoFromAddress } from './demo.js';
import { downloads } from './downloads.js';
import { setupThreadsSetting, engineQuery } from './engine_ui.js';
import { engineSwitch } from './engine_switch.js';
import { generateAnswers } from './generate.js';
import { hubView } from './hub_view.js';
import { modelLoader } from './model_loader.js';
import { resumeOffer } from './resume_offer.js';
import { hasTrained, runControl } from './run_control.js';
import { estimator, fullLossSetting, logFile } from './run_view.js';
import { settingsForm } from './settings_form.js';

const params = new URLSearchParams(location.search);

const state = {
  backend: null, model: null, modelInput: null, textFiles: [], data: null, dataFile: null, run: null,
  log: [], evals: [], start: null, fullLoss: null, options: null, view: null, estimate: null,
};

const engine = connect(`worker.js${engineQuery(params)}`, {
  onEvent: (data) => onEvent(data),
  onEnd: (e) => setStatus($('engine'), `The engine stopped: ${e.message}. Reload the page.`, 'bad'),
});
const request = (cmd, args, opts) => engine.request(cmd, args, opts);

// ---- settings ----------------------------------------------------------------------------

const form = $('settings');
const { options, writeOptions } = settingsForm(form, () => state.backend?.gpu);

// The estimated duration of the run the settings describe (run_view.js), shown next to Train.
const scheduleEstimate = estimator(request, () => {
  const busy = ['starting', 'training', 'paused', 'final'].includes(state.run);
  const o = state.model && state.data && !busy ? options() : null;
  const engine = state.backend?.gpu ? `WebGPU (${state.backend.name})` : 'this CPU engine';
  return o && { options: o, finalExamples: fullLossSetting(form.elements.full_loss.value), engine };
}, (e, text) => {
  state.estimate = e;
  $('estimate').textContent = text;
});

// ---- model, plan, data, training ---------------------------------------------------------

const { budget, encodeData, loadData, refreshData } = dataLoader({
  state, request, form, options, updateButtons, scheduleEstimate, refreshMemory: () => refreshMemory(),
});
const { loadModel, refreshPlan, refreshMemory } = modelLoader({ state, request, options, updateButtons, budget, encodeData, loadData });
const { train, pause, stop, onStep, onEval, onRun, onCheckpoint, redraw } = runControl({ state, request, form, options, updateButtons });

function updateButtons() {
  const run = state.run;
  const busy = run === 'starting' || run === 'training' || run === 'paused';
  const refusal = memoryRefusal(state.memory);
  $('train').disabled = busy || run === 'final' || !state.model || (!state.data && !state.dataReading) || Boolean(refusal);
  $('train').title = refusal ?? '';
  $('pause').disabled = run !== 'training';
  $('resume').disabled = run !== 'paused';
  $('stop').disabled = !(busy || run === 'final');
  $('generate').disabled = !state.model || run === 'starting';
  // Downloads work between steps (paused, or after the run); the merged model once it differs
  // from the one loaded (a step trained), the adapter once a run exists.
  const stepping = run === 'starting' || run === 'training';
  const trained = hasTrained(state);
  $('dl-merged').disabled = !state.model || stepping || !trained;
  $('dl-gguf').disabled = $('dl-merged').disabled;
  $('dl-adapter').disabled = !state.start || stepping;
  answerColumns(trained);
  $('dl-csv').disabled = state.log.length === 0;
  $('dl-json').disabled = state.log.length === 0;
  for (const el of form.elements) el.disabled = busy;
  $('resume-checkpoint').disabled = busy || !state.model || !state.data;
  $('engine-choice').disabled = busy || !state.backend || !$('model-progress').hidden || Boolean(state.dataReading);
}

// ---- generation --------------------------------------------------------------------------

async function generate(e) {
  e.preventDefault();
  const prompt = $('prompt').value.trim();
  if (!prompt) return;
  $('generate').disabled = true;
  const column = (what) => ({ answer: $(`answer-${what}`), rate: $(`rate-${what}`) });
  // Before a run has trained, one answer: the model as loaded (model_view.js).
  const both = hasTrained(state);
  const columns = both ? { original: column('original'), current: column('current') } : { original: column('original') };
  await generateAnswers({
    prompt, maxNewTokens: Number($('max-new').value) || 64, request, columns, both,
    encode: (p) => dataJob('encodePrompt', { model: state.textFiles, prompt: p }, state.textFiles, null, budget()),
  });
  updateButtons();
}

// ---- checkpoints in browser storage, the demo ----------------------------------------------

const { offerResume, resume: resumeCheckpoint, forget: forgetCheckpoint } = resumeOffer({ request, writeOptions, train });

// With `?demo` (or `?demo=FOLDER`), the model, data and settings scripts/demo.sh prepared.
const loadDemo = () => demoFromAddress(params, {
  status: $('model-status'), writeOptions, loadModel,
  setData: (file) => { state.dataFile = file; },
});

// ---- the worker's events -----------------------------------------------------------------

function onEvent(data) {
  if (data.type === 'ready') {
    openEngine().then(() => Promise.all([offerResume(), loadDemo()]), (e) => setStatus($('engine'), `The engine failed to start: ${e.message}`, 'bad'));
  } else if (data.type === 'error') {
    setStatus($('engine'), `Error: ${data.message}`, 'bad');
  } else if (data.type === 'progress' && data.what === 'decompose') {
    state.view?.decomposing(data.done, data.total, data.name);
  } else if (data.type === 'phase') {
    state.view?.lossBatch(data);
  } else if (data.type === 'eval') {
    onEval(data);
  } else if (data.type === 'progress') {
    const bar = { load: $('model-progress'), export: $('dl-progress') }[data.what];
    bar.max = data.total;
    bar.value = data.done;
  } else if (data.type === 'step') {
    onStep(data.step);
  } else if (data.type === 'run') {
    onRun(data);
  } else if (data.type === 'checkpoint') {
    onCheckpoint(data);
  }
}

// ---- wiring ------------------------------------------------------------------------------

// A model id from the Hub (hub_view.js): its files are loaded as if dropped.
const hub = hubView({ params, loadModel });
const { openEngine, switchEngine, recover } = engineSwitch({ params, state, request, hub, updateButtons, loadModel, loadData, writeOptions, train });
$('model-folder').addEventListener('change', (e) => loadModel(fromInput(e.target)));
$('model-files').addEventListener('change', (e) => loadModel(fromInput(e.target)));
dropZone($('model-drop'), async (dt) => loadModel(await fromDrop(dt)));
form.elements.seq_len.addEventListener('input', (e) => markSeqLenSet(e.target));
$('data-file').addEventListener('change', (e) => e.target.files[0] && loadData(e.target.files[0]));
dropZone($('data-drop'), (dt) => dt.files[0] && loadData(dt.files[0]));
for (const zone of [$('model-drop'), $('data-drop')]) {
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); zone.querySelector('input').click(); }
  });
}
form.addEventListener('change', (e) => {
  if (!options()) return;
  if (['rank_fraction', 'freeze_norms'].includes(e.target.name)) refreshPlan();
  if (['rank_fraction', 'freeze_norms', 'batch_size', 'seq_len', 'factor_format', 'gpu_memory'].includes(e.target.name)) refreshMemory();
  if (['seq_len', 'eval_fraction', 'seed', 'batch_size', 'pack'].includes(e.target.name) && state.dataFile) refreshData();
  else scheduleEstimate();
});
$('train').addEventListener('click', () => train(false));
$('pause').addEventListener('click', () => pause());
$('resume').addEventListener('click', () => request('resume'));
$('stop').addEventListener('click', () => stop());
$('resume-checkpoint').addEventListener('click', () => resumeCheckpoint());
$('forget-checkpoint').addEventListener('click', () => forgetCheckpoint());
$('recover').addEventListener('click', recover);
$('engine-choice').addEventListener('change', (e) => switchEngine(e.target.value));
setupThreadsSetting($('threads-choice'), params);
$('try').addEventListener('submit', generate);
const download = downloads(request, () => state.model.name);
$('dl-merged').addEventListener('click', () => download.merged($('merged-dtype').value));
$('dl-gguf').addEventListener('click', () => download.gguf($('gguf-type').value));
$('dl-adapter').addEventListener('click', download.adapter);
$('dl-csv').addEventListener('click', () => save(...logFile('csv', state)));
$('dl-json').addEventListener('click', () => save(...logFile('json', state)));
window.addEventListener('resize', redraw);
// Test hooks (`?test`): end the GPU device, make browser storage full, or the engine slow.
if (params.has('test')) {
  window.svdtuneTest = {
    loseDevice: () => request('loseDevice'),
    storageFull: (on = true) => request('injectFault', { storageFull: on }),
    slow: (ms) => request('injectFault', { slowMs: ms }),
  };
}
updateButtons();
