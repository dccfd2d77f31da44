// The training page: talks to the engine worker (worker.js) and renders the model, the plan, the
// data, live training, generation and downloads. No framework; every control is a native one.
// Chat templates and tokenizers run in a separate data worker (data_worker.js, its own wasm
// instance): it turns the data file and Generate's prompt into token ids for the engine. The page
// ends it after the "Data time limit" setting (plus 5 s per MB of data) or when it dies, names the
// template's file and the data file and says why; the engine, and the run in it, are untouched.
// A newly dropped model folder's template is tried in the data worker (on the data file, or on a
// one-message prompt) before the engine takes the folder, so a hostile one leaves the loaded model
// and its training as they were. data_view.js renders the data info and picks the sequence length
// from the data; model_view.js keeps the model's details true after a failed load; hub_view.js
// gets a model id from the Hugging Face Hub (or this browser's cache of it) and loads it the same way.
import { drawChart } from './chart.js';
import { connect } from './client.js';
import { TEXT_FILES, dataBudget, dataJob } from './data_client.js';
import { dropZone, fromDrop, fromInput, save } from './files.js';
import { clearData, fitSeqLen, markSeqLenSet, plural, readOptions as dataReadOptions, renderData, showPicked, withoutName } from './data_view.js';
import { answerColumns, clearModel, markKept, renderPlan, unmarkKept } from './model_view.js';
import { clearMemory, memoryRefusal, renderMemory } from './memory_view.js';
import { $, bytesText, dl, fmt, setStatus } from './dom.js';
import { demoFromAddress } from './demo.js';
import { downloads } from './downloads.js';
import { describeEngine, modeFromAddress, setupThreadsSetting, engineQuery, writeModeToAddress } from './engine_ui.js';
import { generateAnswers } from './generate.js';
import { hubView } from './hub_view.js';
import { RunView, estimator, fullLossSetting, logFile } from './run_view.js';

const params = new URLSearchParams(location.search);
// `?cpu` / `?gpu` force the CPU engine / WebGPU (engine_ui.js); `?max-binding=BYTES` makes the
// GPU refuse larger tensors and `?max-memory=BYTES` more memory in all, as a smaller GPU would.
const engineOptions = {
  mode: modeFromAddress(params),
  bindingCap: Number(params.get('max-binding')) || null,
  memoryCap: Number(params.get('max-memory')) || null,
};
// What chose the engine mode, for the engine line.
let engineChosenBy = engineOptions.mode === 'auto' ? 'default' : `?${engineOptions.mode}`;

const state = {
  backend: null, model: null, modelInput: null, textFiles: [], data: null, dataFile: null, run: null, saved: null,
  log: [], evals: [], start: null, fullLoss: null, options: null, view: null, estimate: null,
};

const engine = connect(`worker.js${engineQuery(params)}`, {
  onEvent: (data) => onEvent(data),
  onEnd: (e) => setStatus($('engine'), `The engine stopped: ${e.message}. Reload the page.`, 'bad'),
});
const request = (cmd, args, opts) => engine.request(cmd, args, opts);

// ---- the data worker (data_client.js) ---------------------------------------------------

// The data worker's budget in seconds for a data file of `bytes` (the "Data time limit" setting).
const budget = (bytes = 0) => dataBudget(Number(form.elements.data_budget.value) || 60, bytes);

// A dataset's encoding for the engine's setData, read by the data worker.
// It is read once, cut at data_view.js's READ_CAP tokens; the engine cuts it to each length tried.
const encodeData = (files, file, o) => dataJob('encodeDataset', { model: files, name: file.name, file, options: dataReadOptions(o) }, files, file.name, budget(file.size));

// ---- settings ----------------------------------------------------------------------------

const form = $('settings');

// The options the engine takes, from the form; throws a message naming the bad field.
function readOptions() {
  const f = form.elements;
  for (const el of f) {
    if (el.name && !el.checkValidity()) {
      el.focus();
      throw new Error(`${el.closest('label').textContent.trim()}: ${el.validationMessage}`);
    }
  }
  const num = (name) => Number(f[name].value);
  const int = (name) => {
    const v = num(name);
    if (!Number.isInteger(v)) throw new Error(`${f[name].closest('label').textContent.trim()}: a whole number is needed`);
    return v;
  };
  return {
    rank_fraction: num('rank_fraction'),
    lr: num('lr'),
    epochs: int('epochs'),
    max_steps: f.max_steps.value === '' ? null : int('max_steps'),
    batch_size: int('batch_size'),
    seq_len: int('seq_len'),
    grad_accum: int('grad_accum'),
    eval_fraction: num('eval_fraction'),
    eval_every: int('eval_every'),
    freeze_norms: f.freeze_norms.checked,
    pack: f.pack.checked,
    seed: int('seed'),
    factor_format: f.factor_format.value,
    // Browsers report no GPU memory size: the run must fit the setting (the CPU engine's limit
    // is its own).
    memory_limit: state.backend?.gpu ? Math.round(num('gpu_memory') * 1e9) : null,
  };
}

function writeOptions(o) {
  const f = form.elements;
  for (const [k, v] of Object.entries(o)) {
    if (!f[k]) continue;
    if (k === 'seq_len') markSeqLenSet(f[k]);
    if (f[k].type === 'checkbox') f[k].checked = Boolean(v);
    else f[k].value = v ?? '';
  }
}

function options() {
  try {
    const o = readOptions();
    $('settings-error').textContent = '';
    return o;
  } catch (e) {
    $('settings-error').textContent = e.message;
    return null;
  }
}

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

// ---- model, plan, data -------------------------------------------------------------------

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

// Reads the data file (again, when a setting it depends on changed). A click on Train while it
// is being read waits for it (`state.dataReading`).
async function loadData(file, pre = null) {
  const reading = readData(file, pre);
  state.dataReading = reading;
  try {
    await reading;
  } finally {
    if (state.dataReading === reading) state.dataReading = null;
    updateButtons();
    refreshMemory(); // the sequence length may have been chosen from the data
  }
}

// `pre`: {file, options, encoded} when the file was already read with this model's template.
async function readData(file, pre) {
  state.dataFile = file;
  state.data = null;
  const status = $('data-status');
  if (!state.model) {
    clearData();
    setStatus(status, `${file.name} is ready; it is read once a model is loaded (its tokenizer and chat template are needed).`);
    return;
  }
  const o = options();
  if (!o) return;
  setStatus(status, `Reading ${file.name}…`);
  try {
    const same = pre && pre.file === file && JSON.stringify(pre.options) === JSON.stringify(o);
    const encoded = same ? pre.encoded : await encodeData(state.textFiles, file, o);
    let d = await request('setData', { name: file.name, encoded, options: o }, { transfer: [encoded.buffer] });
    d = await fitSeqLen(d, form.elements.seq_len, state.model?.summary?.max_position_embeddings, () => request('dataInfo', { options: options() }));
    state.data = d;
    renderData(d);
    showPicked('data-picked', file.name);
    setStatus(status, `Read ${file.name}.`, 'ok');
    scheduleEstimate();
  } catch (e) {
    clearData();
    showPicked('data-picked', null);
    setStatus(status, `Cannot use ${file.name}: ${withoutName(e.message, file.name)}`, 'bad');
    status.dataset.kind = e.kind;
  }
  updateButtons();
}

// The data info again after a setting it depends on changed; the file is read again only when
// the sequence length is beyond the cut it was read with.
async function refreshData() {
  const o = options();
  if (!o || !state.data || (state.data.read_len != null && o.seq_len > state.data.read_len)) return loadData(state.dataFile);
  try {
    state.data = await request('dataInfo', { options: o });
    renderData(state.data);
    scheduleEstimate();
  } catch (e) {
    state.data = null;
    clearData();
    setStatus($('data-status'), `Cannot use ${state.dataFile.name}: ${withoutName(e.message, state.dataFile.name)}`, 'bad');
  }
  updateButtons();
}

// ---- training ----------------------------------------------------------------------------

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
  const trained = hasTrained();
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

// Whether the run has trained at least one step (or resumed after one).
const hasTrained = () => Boolean(state.start && (state.log.length > 0 || state.start.resumed_step > 0));

function redraw() {
  const train = state.log.filter((r) => r.loss !== undefined).map((r) => ({ step: r.step, loss: r.loss }));
  drawChart($('chart'), train, state.evals, state.start?.total_steps);
}

async function train(resume = false) {
  if (state.dataReading) await state.dataReading;
  const o = options();
  if (!o || !state.model || !state.data) return;
  const checkpointEvery = Number(form.elements.checkpoint_every.value) || 0;
  const fullLoss = fullLossSetting(form.elements.full_loss.value);
  const view = new RunView(o, state.estimate, fullLoss);
  Object.assign(state, { run: 'starting', log: [], evals: [], start: null, fullLoss: null, options: o, view });
  delete $('train-progress').dataset.checkpoint;
  delete $('chart').dataset.state;
  for (const id of ['stat-full', 'stat-eval', 'stat-eta']) $(id).textContent = '–';
  $('stat-full-of').textContent = '';
  $('train-summary').textContent = '';
  updateButtons();
  redraw();
  setStatus($('train-status'), 'Decomposing every layer…');
  try {
    const meta = { options: o, model: state.model.name, data: state.data.name, saved: new Date().toISOString() };
    const info = await request('train', { options: o, checkpointEvery, meta, resume, fullLoss });
    if (info.stopped) {
      state.run = 'stopped';
      setStatus($('train-status'), `Stopped during the decomposition; ${state.model.name} is as loaded.`, 'ok');
      updateButtons();
      return;
    }
    state.start = info;
    view.begin(info);
    const from = info.resumed_step ? `, resumed after step ${info.resumed_step}` : '';
    const m = info.memory;
    const memory = m ? ` Memory: ${bytesText(m.weights + m.optimizer + m.activations)} (weights ${bytesText(m.weights)}, activations ${bytesText(m.activations)}).` : '';
    setStatus($('train-summary'), `Decomposed ${plural(info.decomposed_layers, 'layer')} in ${(info.decompose_ms / 1000).toFixed(1)} s; training ${fmt(info.trainable_params)} parameters for ${plural(info.total_steps, 'step')}${from}.${memory}`);
    redraw();
  } catch (e) {
    state.run = 'error';
    setStatus($('train-status'), `Cannot start: ${e.message}`, 'bad');
    updateButtons();
  }
}

function onStep(s) {
  state.log.push({
    step: s.step, epoch: s.epoch, loss: s.loss, eval_loss: null, lr: s.lr,
    grad_norm: s.grad_norm, applied: s.applied, tokens: s.tokens, tokens_per_s: s.tokens_per_s, ms: s.ms,
  });
  state.view.step(s);
  $('stat-step').textContent = `${s.step} / ${s.total_steps} (epoch ${s.epoch + 1})`;
  $('stat-loss').textContent = s.applied ? s.loss.toFixed(4) : `${s.loss} (step skipped: not finite)`;
  $('stat-tps').textContent = fmt(Math.round(s.tokens_per_s));
  redraw();
}

// An evaluation's loss, after `step` (0: before the first step).
function onEval({ step, loss }) {
  state.evals.push({ step, loss });
  const entry = state.log.findLast((r) => r.step === step);
  if (entry) entry.eval_loss = loss;
  $('stat-eval').textContent = `${loss.toFixed(4)} (step ${step})`;
  redraw();
}

function onRun(msg) {
  state.run = msg.state;
  const status = $('train-status');
  if (msg.state === 'training') setStatus(status, 'Training…');
  else if (msg.state === 'final') state.view.toFinal();
  else if (msg.state === 'paused') setStatus(status, 'Paused. Generate or download now, or resume.');
  else if (msg.state === 'error') {
    const saved = $('train-progress').dataset.checkpoint;
    const lost = msg.kind === 'device-lost';
    const gpu = msg.kind === 'device-error' ? ' The GPU stopped working (out of memory or a driver error).' : '';
    const resume = saved
      ? ` The checkpoint of step ${saved} is kept in browser storage${lost ? ': continue on a new GPU device, or reload the page later' : ': reload the page and give it the same files to resume'}.`
      : (lost ? ' Continue on a new GPU device to start again.' : '');
    setStatus(status, `Training stopped: ${msg.message}.${gpu}${resume}`, 'bad');
    $('recover-offer').hidden = !lost;
  }
  else {
    state.fullLoss = msg.full?.loss ?? null;
    state.view.finish(msg);
    setStatus(status, msg.state === 'done' ? 'Training finished.' : 'Training stopped.', 'ok');
    $('chart').dataset.state = msg.state;
  }
  updateButtons();
}

// ---- generation and downloads ------------------------------------------------------------

async function generate(e) {
  e.preventDefault();
  const prompt = $('prompt').value.trim();
  if (!prompt) return;
  $('generate').disabled = true;
  const column = (what) => ({ answer: $(`answer-${what}`), rate: $(`rate-${what}`) });
  // Before a run has trained, one answer: the model as loaded (model_view.js).
  const both = hasTrained();
  const columns = both ? { original: column('original'), current: column('current') } : { original: column('original') };
  await generateAnswers({
    prompt, maxNewTokens: Number($('max-new').value) || 64, request, columns, both,
    encode: (p) => dataJob('encodePrompt', { model: state.textFiles, prompt: p }, state.textFiles, null, budget()),
  });
  updateButtons();
}

// ---- checkpoints in browser storage ------------------------------------------------------

async function offerResume() {
  const saved = await request('savedCheckpoint').catch(() => null);
  state.saved = saved;
  $('resume-offer').hidden = !saved;
  if (saved) {
    $('resume-text').textContent = `A checkpoint of ${saved.model} on ${saved.data} after step ${saved.step} (${new Date(saved.saved).toLocaleString()}) is in this browser's storage. Load the same model and data, then resume it.`;
  }
}

// ---- the demo ------------------------------------------------------------------------------

// With `?demo` (or `?demo=FOLDER`), the model, data and settings scripts/demo.sh prepared.
const loadDemo = () => demoFromAddress(params, {
  status: $('model-status'), writeOptions, loadModel,
  setData: (file) => { state.dataFile = file; },
});

// ---- a lost GPU device --------------------------------------------------------------------

async function openEngine() {
  $('engine-choice').disabled = true;
  const b = await request('open', engineOptions);
  state.backend = b;
  const line = describeEngine(b, engineChosenBy, bytesText);
  setStatus($('engine'), line.text, line.kind);
  $('engine').dataset.state = line.state;
  $('engine-choice').value = engineOptions.mode;
  hub.ready();
  updateButtons();
}

// The Engine setting changed: reopens the engine in the new mode, then loads the model and data
// again on it. A finished run is not carried over (the page asks first).
async function switchEngine(mode) {
  if (state.start && !confirm('Switching the engine loads the model again without its training. Download what you need first. Switch now?')) {
    $('engine-choice').value = engineOptions.mode;
    return;
  }
  Object.assign(engineOptions, { mode });
  engineChosenBy = 'the Engine setting';
  writeModeToAddress(mode);
  Object.assign(state, { model: null, data: null, start: null, run: null });
  delete $('engine').dataset.state;
  setStatus($('engine'), 'Reopening the engine…');
  if (state.modelInput) setStatus($('model-status'), `${state.modelInput.folder} is loaded again on the new engine…`);
  if (state.dataFile) setStatus($('data-status'), `${state.dataFile.name} is read again once the model is loaded…`);
  updateButtons();
  try {
    await openEngine();
    if (state.modelInput) await loadModel(state.modelInput);
  } catch (e) {
    setStatus($('engine'), `The engine failed to start: ${e.message}`, 'bad');
  }
}

// Opens a new device, loads the same files again and continues from the last checkpoint (or
// starts again without one).
async function recover() {
  $('recover-offer').hidden = true;
  setStatus($('train-status'), 'Opening a new GPU device…');
  try {
    await openEngine();
    await loadModel(state.modelInput);
    if (state.dataFile) await loadData(state.dataFile);
    const saved = await request('savedCheckpoint').catch(() => null);
    if (saved) writeOptions(saved.options);
    await train(Boolean(saved));
  } catch (e) {
    setStatus($('train-status'), `Cannot continue: ${e.message}`, 'bad');
  }
}

// ---- wiring ------------------------------------------------------------------------------

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
    if (data.error) setStatus($('train-status'), data.error, 'bad');
    else $('train-progress').dataset.checkpoint = data.step;
  }
}

// A model id from the Hub (hub_view.js): its files are loaded as if dropped.
const hub = hubView({ params, loadModel });
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
// Pause and Stop act between steps: say so at once, since a step can take seconds (minutes on a
// slow CPU engine); the worker's 'paused' / 'stopped' message replaces the line.
$('pause').addEventListener('click', () => {
  $('pause').disabled = true;
  setStatus($('train-status'), 'Pausing after this step…');
  request('pause');
});
$('resume').addEventListener('click', () => request('resume'));
$('stop').addEventListener('click', () => {
  $('stop').disabled = true;
  $('pause').disabled = true;
  const phase = state.run === 'starting' ? 'decompose' : state.run === 'final' ? 'file' : state.view?.phase;
  const after = { decompose: 'after this layer', eval: 'the evaluation after this batch', file: 'the loss over the file after this batch' }[phase];
  setStatus($('train-status'), state.run === 'paused' ? 'Stopping…' : `Stopping ${after ?? 'after this step'}…`);
  request('stop');
});
$('resume-checkpoint').addEventListener('click', () => {
  if (state.saved) writeOptions(state.saved.options);
  $('resume-offer').hidden = true;
  train(true);
});
$('forget-checkpoint').addEventListener('click', async () => {
  await request('forgetCheckpoint');
  $('resume-offer').hidden = true;
});
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
