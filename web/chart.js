// The loss chart, drawn by hand on a canvas (sharp on high-DPI screens, colours from the page's
// CSS): axes with ticks at round loss values and step numbers, the training loss raw (faint,
// with its points while they are few) and smoothed (an exponential moving average, debiased, as
// TensorBoard draws it), eval losses as outlined dots on a dashed line. A single step is drawn as
// its point. Hovering shows the step, loss, smoothed loss and eval loss under the pointer.
// For screen readers and tests: aria-label says what is drawn; data-steps, data-evals,
// data-x-ticks, data-y-ticks (the tick labels, comma-separated), data-hover (the values shown
// under the pointer, empty when none) and data-last-point ("x,y": where the last training point
// is drawn, in CSS pixels).

// Smoothing of the moving average (0: none; the weight of the past).
const SMOOTHING = 0.6;
const PAD = { left: 56, right: 14, top: 12, bottom: 32 };

// Round tick values covering [lo, hi], about `count` of them: steps of 1, 2, 2.5 or 5 × 10^k
// (at least `minStep`). Returns {ticks, step}.
export function niceTicks(lo, hi, count = 5, minStep = 0) {
  const raw = Math.max((hi - lo) / Math.max(count, 1), minStep, 1e-12);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max([1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw - 1e-12), minStep);
  const ticks = [];
  for (let v = Math.floor(lo / step + 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks.length === 0 || ticks.at(-1) < hi - 1e-12) ticks.push(Number((ticks.at(-1) ?? lo) + step));
  return { ticks, step };
}

// The debiased exponential moving average of `values` with weight `s` on the past.
export function smooth(values, s = SMOOTHING) {
  let avg = 0;
  return values.map((v, i) => {
    avg = s * avg + (1 - s) * v;
    return avg / (1 - s ** (i + 1));
  });
}

// Draws `train` ([{step, loss}]) and `evals` ([{step, loss}]) over steps 0..totalSteps.
export function drawChart(canvas, train, evals, totalSteps) {
  canvas.chart = { train: train.filter((p) => Number.isFinite(p.loss)), evals: evals.filter((p) => Number.isFinite(p.loss)), totalSteps, hover: canvas.chart?.hover ?? null };
  if (!canvas.dataset.hoverBound) {
    canvas.dataset.hoverBound = '1';
    canvas.addEventListener('pointermove', (e) => {
      const r = canvas.getBoundingClientRect();
      canvas.chart.hover = e.clientX - r.left;
      render(canvas);
    });
    canvas.addEventListener('pointerleave', () => {
      canvas.chart.hover = null;
      render(canvas);
    });
  }
  canvas.dataset.steps = String(train.length);
  canvas.dataset.evals = String(evals.length);
  render(canvas);
}

function render(canvas) {
  const { train, evals, totalSteps, hover } = canvas.chart;
  const dpr = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || 640;
  const cssHeight = canvas.clientHeight || 240;
  if (canvas.width !== Math.round(cssWidth * dpr) || canvas.height !== Math.round(cssHeight * dpr)) {
    canvas.width = Math.round(cssWidth * dpr);
    canvas.height = Math.round(cssHeight * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssWidth, cssHeight);
  const style = getComputedStyle(canvas);
  const fg = style.color;
  const trainColour = style.getPropertyValue('--train').trim() || '#0969da';
  const evalColour = style.getPropertyValue('--eval').trim() || '#bf3989';
  const w = cssWidth - PAD.left - PAD.right;
  const h = cssHeight - PAD.top - PAD.bottom;
  const values = [...train.map((p) => p.loss), ...evals.map((p) => p.loss)];
  canvas.dataset.hover = '';
  if (values.length === 0) {
    canvas.dataset.lastPoint = '';
    canvas.dataset.xTicks = '';
    canvas.dataset.yTicks = '';
    canvas.setAttribute('aria-label', 'Loss chart: no steps yet');
    return;
  }
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
  const y = niceTicks(lo, hi, 5);
  [lo, hi] = [y.ticks[0], y.ticks.at(-1)];
  const maxStep = Math.max(totalSteps || 1, ...train.map((p) => p.step), ...evals.map((p) => p.step), 1);
  const x = niceTicks(0, maxStep, Math.max(2, Math.min(8, Math.floor(w / 70))), 1);
  const xMax = x.ticks.at(-1);
  const px = (step) => PAD.left + (step / xMax) * w;
  const py = (loss) => PAD.top + (1 - (loss - lo) / (hi - lo)) * h;
  const decimals = (String(Number(y.step.toPrecision(6))).split('.')[1] ?? '').length;
  const yLabels = y.ticks.map((v) => v.toFixed(decimals));
  const xLabels = x.ticks.map((v) => String(v));
  canvas.dataset.yTicks = yLabels.join(',');
  canvas.dataset.xTicks = xLabels.join(',');

  // Grid, axes, tick labels.
  ctx.font = '12px system-ui, sans-serif';
  ctx.strokeStyle = fg;
  ctx.fillStyle = fg;
  ctx.lineWidth = 1;
  ctx.globalAlpha = 0.12;
  ctx.beginPath();
  for (const v of y.ticks) { ctx.moveTo(PAD.left, py(v)); ctx.lineTo(PAD.left + w, py(v)); }
  ctx.stroke();
  ctx.globalAlpha = 0.5;
  ctx.beginPath();
  ctx.moveTo(PAD.left, PAD.top);
  ctx.lineTo(PAD.left, PAD.top + h);
  ctx.lineTo(PAD.left + w, PAD.top + h);
  for (const v of x.ticks) { ctx.moveTo(px(v), PAD.top + h); ctx.lineTo(px(v), PAD.top + h + 4); }
  ctx.stroke();
  ctx.globalAlpha = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  y.ticks.forEach((v, i) => ctx.fillText(yLabels[i], PAD.left - 6, py(v)));
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  x.ticks.forEach((v, i) => ctx.fillText(xLabels[i], px(v), PAD.top + h + 6));
  ctx.textAlign = 'right';
  ctx.fillText('step', PAD.left + w, PAD.top + h + 18);

  // Training loss: raw (faint, with points while few), smoothed on top; one step: its point.
  const smoothed = smooth(train.map((p) => p.loss));
  const line = (points, colour, width, alpha, dash = []) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.globalAlpha = alpha;
    ctx.setLineDash(dash);
    ctx.beginPath();
    points.forEach(([sx, sy], i) => (i === 0 ? ctx.moveTo(sx, sy) : ctx.lineTo(sx, sy)));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.globalAlpha = 1;
  };
  const dot = (cx, cy, r, fill, outline = null) => {
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, 2 * Math.PI);
    ctx.fillStyle = fill;
    ctx.fill();
    if (outline) { ctx.strokeStyle = outline; ctx.lineWidth = 1.5; ctx.stroke(); }
  };
  // Eval loss (under the training loss): outlined dots, joined by a dashed line.
  line(evals.map((p) => [px(p.step), py(p.loss)]), evalColour, 1.5, 0.7, [4, 3]);
  const bg = style.backgroundColor && style.backgroundColor !== 'rgba(0, 0, 0, 0)' ? style.backgroundColor : 'Canvas';
  for (const p of evals) dot(px(p.step), py(p.loss), 4.5, evalColour, bg);
  line(train.map((p) => [px(p.step), py(p.loss)]), trainColour, 1, 0.35);
  if (train.length <= 60 || train.length === 1) {
    ctx.globalAlpha = train.length === 1 ? 1 : 0.45;
    for (const p of train) dot(px(p.step), py(p.loss), train.length === 1 ? 4 : 2, trainColour);
    ctx.globalAlpha = 1;
  }
  if (train.length > 1) line(train.map((p, i) => [px(p.step), py(smoothed[i])]), trainColour, 2, 1);

  if (hover !== null) drawHover(ctx, canvas, { train, evals, smoothed, px, py, xMax, w, h, fg, bg });

  const last = train.at(-1);
  canvas.dataset.lastPoint = last ? `${px(last.step).toFixed(1)},${py(last.loss).toFixed(1)}` : '';
  const lastEval = evals.at(-1);
  canvas.setAttribute('aria-label', `Loss chart: ${train.length} steps, latest training loss ${last ? last.loss.toFixed(4) : 'none'}` +
    (lastEval ? `, latest eval loss ${lastEval.loss.toFixed(4)} at step ${lastEval.step}` : ''));
}

// The values at the step nearest the pointer: a guide line and a box of text.
function drawHover(ctx, canvas, { train, evals, smoothed, px, py, xMax, w, h, fg, bg }) {
  const steps = [...new Set([...train.map((p) => p.step), ...evals.map((p) => p.step)])];
  const at = ((canvas.chart.hover - PAD.left) / w) * xMax;
  const step = steps.reduce((best, s) => (Math.abs(s - at) < Math.abs(best - at) ? s : best), steps[0]);
  const i = train.findIndex((p) => p.step === step);
  const ev = evals.find((p) => p.step === step);
  const lines = [`step ${step}`];
  if (i >= 0) lines.push(`loss ${train[i].loss.toFixed(4)}`, ...(train.length > 1 ? [`smoothed ${smoothed[i].toFixed(4)}`] : []));
  if (ev) lines.push(`eval loss ${ev.loss.toFixed(4)}`);
  canvas.dataset.hover = lines.join(', ');
  ctx.strokeStyle = fg;
  ctx.globalAlpha = 0.4;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(px(step), PAD.top);
  ctx.lineTo(px(step), PAD.top + h);
  ctx.stroke();
  ctx.globalAlpha = 1;
  ctx.font = '12px system-ui, sans-serif';
  const bw = Math.max(...lines.map((l) => ctx.measureText(l).width)) + 12;
  const bh = lines.length * 15 + 8;
  const bx = px(step) + 8 + bw > PAD.left + w ? px(step) - 8 - bw : px(step) + 8;
  const by = PAD.top + 4;
  ctx.fillStyle = bg;
  ctx.globalAlpha = 0.92;
  ctx.fillRect(bx, by, bw, bh);
  ctx.globalAlpha = 1;
  ctx.strokeStyle = fg;
  ctx.strokeRect(bx, by, bw, bh);
  ctx.fillStyle = fg;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  lines.forEach((l, k) => ctx.fillText(l, bx + 6, by + 5 + k * 15));
  if (i >= 0) { ctx.beginPath(); ctx.arc(px(step), py(train[i].loss), 4, 0, 2 * Math.PI); ctx.stroke(); }
}
