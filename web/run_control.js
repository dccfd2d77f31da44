// A training run on the page: Train (or resume from a checkpoint) starts it in the engine with
// the settings; Pause and Stop act between steps and say so at once, since a step can take
// seconds (minutes on a slow CPU engine); the worker's events (a step, an evaluation, the run's
// state: training, paused, final, done, stopped or error) fill the page's log, the statistics,
// the loss chart (chart.js) and the status lines, through run_view.js. After a lost GPU device
// the page offers to continue on a new one (engine_switch.js).
import { $, bytesText, fmt, setStatus } from './dom.js';
import { drawChart } from './chart.js';
import { plural } from './data_view.js';
import { RunView, fullLossSetting } from './run_view.js';

// Whether the run in the page's `state` has trained at least one step (or resumed after one).
export const hasTrained = (state) => Boolean(state.start && (state.log.length > 0 || state.start.resumed_step > 0));

// `state`: the page's state (run, log, evals, start, fullLoss, options, view, model, data,
// dataReading, estimate); `request`: the engine's; `form`: the settings form; `options()`: its
// options or null; `updateButtons()`: the page's. Returns {train, pause, stop, onStep, onEval,
// onRun, onCheckpoint, redraw}.
export function runControl({ state, request, form, options, updateButtons }) {
  function redraw() {
    const train = state.log.filter((r) => r.loss !== undefined).map((r) => ({ step: r.step, loss: r.loss }));
    drawChart($('chart'), train, state.evals, state.start?.total_steps);
  }

  // `resume`: continue from the checkpoint in browser storage.
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

  // Pause and Stop: the worker's 'paused' / 'stopped' message replaces the line.
  function pause() {
    $('pause').disabled = true;
    setStatus($('train-status'), 'Pausing after this step…');
    request('pause');
  }

  function stop() {
    $('stop').disabled = true;
    $('pause').disabled = true;
    const phase = state.run === 'starting' ? 'decompose' : state.run === 'final' ? 'file' : state.view?.phase;
    const after = { decompose: 'after this layer', eval: 'the evaluation after this batch', file: 'the loss over the file after this batch' }[phase];
    setStatus($('train-status'), state.run === 'paused' ? 'Stopping…' : `Stopping ${after ?? 'after this step'}…`);
    request('stop');
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

  // The run's state changed (the worker's 'run' event).
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

  // A checkpoint saved in browser storage after `step` (kept on the progress bar: a failed run's
  // message names it), or why it was not saved.
  function onCheckpoint(data) {
    if (data.error) setStatus($('train-status'), data.error, 'bad');
    else $('train-progress').dataset.checkpoint = data.step;
  }

  return { train, pause, stop, onStep, onEval, onRun, onCheckpoint, redraw };
}
