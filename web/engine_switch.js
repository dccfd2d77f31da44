// Opening the engine in the worker, and opening it again: the Engine setting reopens it in the
// new mode (engine_ui.js writes the mode into the address) and loads the model and data again on
// it, a finished run not carried over (the page asks first); after a lost GPU device, "continue"
// opens a new device, loads the same files again and resumes from the last checkpoint (or starts
// again without one). `?cpu` / `?gpu` force the CPU engine / WebGPU; `?max-binding=BYTES` makes
// the GPU refuse larger tensors and `?max-memory=BYTES` more memory in all, as a smaller GPU would.
// On a hardware GPU the engine's matrix tiles are measured once per GPU (gpu_tiles.js).
import { $, bytesText, setStatus } from './dom.js';
import { describeEngine, modeFromAddress, writeModeToAddress } from './engine_ui.js';
import { chooseTiles, tilesText } from './gpu_tiles.js';

// `params`: the page's URL parameters; `state`: the page's state (backend, model, modelInput,
// dataFile, data, start, run); `request`: the engine's; `hub`: the Hub form (hub_view.js);
// `updateButtons()`, `loadModel(input)`, `loadData(file)`, `writeOptions(o)`, `train(resume)`:
// the page's. Returns {openEngine, switchEngine, recover}.
export function engineSwitch({ params, state, request, hub, updateButtons, loadModel, loadData, writeOptions, train }) {
  const engineOptions = {
    mode: modeFromAddress(params),
    bindingCap: Number(params.get('max-binding')) || null,
    memoryCap: Number(params.get('max-memory')) || null,
  };
  // What chose the engine mode, for the engine line.
  let engineChosenBy = engineOptions.mode === 'auto' ? 'default' : `?${engineOptions.mode}`;

  async function openEngine() {
    $('engine-choice').disabled = true;
    const b = await request('open', engineOptions);
    b.tiles = await chooseTiles(b, params, request, (text) => setStatus($('engine'), text));
    state.backend = b;
    const line = describeEngine(b, engineChosenBy, bytesText);
    line.text += tilesText(b.tiles);
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

  return { openEngine, switchEngine, recover };
}
