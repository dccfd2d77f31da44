// The training run as the page shows it: one status line per phase (decomposition, the
// evaluation before the first step and after later steps, the steps, the loss over the whole
// file), one progress bar over all of them, the time left over all of them, and the estimated
// duration shown before Train. The bar counts work units: steps, eval batches and final-pass
// batches; it is full only when nothing is left. Time left = steps left × the mean of the last
// steps + loss batches left × the mean of the last loss batches (before any is measured: the
// estimate's figures; an eval batch of a run costs about a step over STEP_OVER_FORWARD).
// The worker's events (worker.js) come in through `RunView`'s methods; run_control.js keeps the
// log and the chart. `logFile` makes the training log's download (CSV, or JSON with the run's
// settings, start info, evaluations, the estimate and the time the run took).

const $ = (id) => document.getElementById(id);

// src/train/estimate.rs's STEP_OVER_FORWARD: a step costs this many forward passes.
const STEP_OVER_FORWARD = 2.5;

// "2 min 5 s", "40 s", "1 h 12 min"; "< 1 s" while anything is left, "0 s" when nothing is.
export function duration(ms) {
  if (ms > 0 && ms < 1000) return '< 1 s';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

// "28 min", "40 s", "0.02 s": a rough duration.
function about(ms) {
  const s = ms / 1000;
  if (s < 1) return `${Number(s.toPrecision(1))} s`;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

// Evaluations due after the steps in (done, total] (every `every` steps and after the last; see
// src/train/run.rs `Due::after`).
export function evalsLeft(done, total, every) {
  if (done >= total) return 0;
  const at = (k) => (every > 0 ? Math.floor(k / every) : 0);
  const last = every === 0 || total % every !== 0 ? 1 : 0;
  return at(total) - at(done) + last;
}

// The setting "Loss over the whole file after training": 0 (off), a number of examples, or null
// (all of them).
export function fullLossSetting(value) {
  if (value === 'all') return null;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : null;
}

// The text of an estimate (src/train/estimate.rs RunEstimate).
export function estimateText(e, engine) {
  const parts = [`decomposition ~${about(e.decompose_ms)}`, `${e.steps} steps × ~${about(e.step_ms)}`];
  if (e.evals > 0 && e.eval_batches > 0) parts.push(`evals ~${about(e.eval_ms)}`);
  if (e.final_batches > 0) parts.push(`loss over the file ~${about(e.final_ms)}`);
  return `Estimated: about ${about(e.total_ms)} on ${engine} (${parts.join(', ')}).`;
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

export class RunView {
  // `options`: the run's options (eval_every); `estimate`: the estimate shown before Train, or
  // null; `fullLoss`: the final-pass setting (fullLossSetting).
  constructor(options, estimate, fullLoss) {
    Object.assign(this, { options, estimate, fullLoss, info: null, phase: null });
    this.stepMs = [];
    this.lossMs = [];
    this.started = performance.now();
    this.status = $('train-status');
    this.bar = $('train-progress');
  }

  line(text, kind = '') {
    this.status.textContent = text;
    this.status.className = kind;
  }

  // A phase's progress line; the page's "Pausing…" / "Stopping…" acknowledgment stays until the
  // worker acts on it, and a problem reported during the run (a checkpoint not saved) stays.
  progress(text) {
    if (!/^(Pausing|Stopping)/.test(this.status.textContent) && this.status.className !== 'bad') this.line(text);
  }

  decomposing(done, total, name) {
    this.bar.max = total;
    this.bar.value = done;
    this.progress(`Decomposing ${name} (${done} of ${total})…`);
  }

  // The decomposition is done: `info` is the engine's start info.
  begin(info) {
    const from = info.resumed_step ?? 0;
    const evalBatches = info.eval_batches;
    const b = Math.max(1, info.batch_size);
    const finalBatches = this.fullLoss === 0 ? 0
      : Math.min(info.file_batches, this.fullLoss == null ? info.file_batches : Math.ceil(this.fullLoss / b));
    this.info = info;
    this.units = {
      step: from, total: info.total_steps, from,
      evalBatches, evalsLeft: evalBatches > 0 ? 1 + evalsLeft(from, info.total_steps, this.options.eval_every) : 0,
      evalDone: 0, evalPass: 0, finalBatches, finalDone: 0,
    };
    this.render();
  }

  // Work units of the whole run (after the decomposition) and those done.
  counts() {
    const u = this.units;
    const evalToCome = u.evalBatches * u.evalsLeft - u.evalPass;
    const total = (u.total - u.from) + u.evalDone + evalToCome + u.finalBatches;
    const done = (u.step - u.from) + u.evalDone + u.finalDone;
    return { total, done };
  }

  // Milliseconds left: steps, evaluations (the one under way included) and the final pass.
  left() {
    const u = this.units;
    const e = this.estimate;
    const stepMs = this.stepMs.length ? mean(this.stepMs) : e?.step_ms ?? null;
    const lossMs = this.lossMs.length ? mean(this.lossMs)
      : e?.eval_batch_ms ?? (stepMs != null ? stepMs / STEP_OVER_FORWARD : null);
    if (stepMs == null || lossMs == null) return null;
    const evalLeft = u.evalBatches * u.evalsLeft - u.evalPass;
    return (u.total - u.step) * stepMs + (evalLeft + u.finalBatches - u.finalDone) * lossMs;
  }

  render() {
    if (!this.units) return;
    const { total, done } = this.counts();
    this.bar.max = Math.max(1, total);
    this.bar.value = done;
    this.bar.dataset.units = `${done}/${total}`;
    const left = this.left();
    $('stat-eta').textContent = left == null ? '–' : duration(left);
  }

  step(s) {
    this.stepMs.push(s.ms);
    if (this.stepMs.length > 20) this.stepMs.shift();
    this.units.step = s.step;
    this.phase = 'steps';
    this.progress(`Training: step ${s.step} of ${s.total_steps}…`);
    this.render();
  }

  // A batch of a loss pass ('eval' or 'file'), or its start (done 0).
  lossBatch(p) {
    const u = this.units;
    if (p.ms != null) {
      this.lossMs.push(p.ms);
      if (this.lossMs.length > 20) this.lossMs.shift();
    }
    // The batch being computed (the last one's number once all are done).
    const at = Math.min(p.done + 1, p.total);
    if (p.phase === 'eval') {
      if (p.done > 0) u.evalDone += 1;
      u.evalPass = p.done;
      if (p.done === p.total) { u.evalsLeft -= 1; u.evalPass = 0; }
      const when = p.step ? `after step ${p.step}` : 'before the first step';
      this.progress(`Evaluating ${when}: batch ${at} of ${p.total}`);
    } else {
      u.finalBatches = p.total;
      u.finalDone = p.done;
      this.progress(`Loss over the file: batch ${at} of ${p.total} (${p.examples} of ${p.of} examples)`);
    }
    this.phase = p.phase;
    this.render();
  }

  // An evaluation ended early (Stop): its batches are no longer to come.
  dropEvals() {
    if (!this.units) return;
    this.units.evalsLeft = 0;
    this.units.evalPass = 0;
  }

  // The steps ended (done or stopped) and the loss over the file begins.
  toFinal() {
    if (!this.units) return;
    this.dropEvals();
    this.units.total = this.units.step;
    this.line('Loss over the file…');
    this.render();
  }

  // The run ended: `msg` is the worker's final 'run' event.
  finish(msg) {
    const full = msg.full;
    $('stat-full').textContent = full ? full.loss.toFixed(6) : '–';
    let of = '';
    if (full) of = full.examples === full.of ? `on all ${full.of} examples` : `on ${full.examples} of ${full.of} examples`;
    else if (msg.steps === 0) of = '(no step ran)';
    else if (this.fullLoss === 0) of = '(off in the settings)';
    else of = '(stopped)';
    $('stat-full-of').textContent = of;
    if (this.units) {
      this.dropEvals();
      this.units.total = this.units.step;
      this.units.finalBatches = this.units.finalDone;
    }
    this.render();
    $('stat-eta').textContent = '0 s';
    this.elapsed = performance.now() - this.started;
  }
}

// The estimate next to Train: returns a function that asks the engine for it 300 ms after the
// last call (a newer call replaces a pending one; an answer to an older one is dropped). `read()`
// gives {options, finalExamples, engine} or null when there is nothing to estimate;
// `show(estimate or null, text)` renders it.
export function estimator(request, read, show) {
  let timer = null;
  let seq = 0;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const args = read();
      if (!args) return;
      const mine = ++seq;
      show(null, 'Estimating the duration of the run…');
      try {
        const e = await request('estimate', { options: args.options, finalExamples: args.finalExamples });
        if (mine === seq && e) show(e, estimateText(e, args.engine));
      } catch (err) {
        if (mine === seq) show(null, `No estimate: ${err.message}`);
      }
    }, 300);
  };
}

const COLUMNS = ['step', 'epoch', 'loss', 'eval_loss', 'lr', 'grad_norm', 'applied', 'tokens', 'tokens_per_s', 'ms'];

// [Blob, file name] of the training log of the page's `state` as 'csv' or 'json'.
export function logFile(kind, state) {
  if (kind === 'csv') {
    const lines = [COLUMNS.join(','), ...state.log.map((r) => COLUMNS.map((c) => r[c] ?? '').join(','))];
    return [new Blob([`${lines.join('\n')}\n`], { type: 'text/csv' }), 'training-log.csv'];
  }
  const doc = {
    model: state.model?.name, data: state.data?.name, backend: state.backend?.name, options: state.options,
    start: state.start, steps: state.log, evals: state.evals, full_loss: state.fullLoss,
    estimate: state.view?.estimate ?? null, elapsed_ms: state.view?.elapsed ?? null,
  };
  return [new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' }), 'training-log.json'];
}
