// The loss chart: training loss as a line and eval loss as dots over steps, drawn by hand on a
// canvas (sharp on high-DPI screens, colours from the page's CSS). The canvas's aria-label and
// data-steps say what is drawn, for screen readers and tests.
export function drawChart(canvas, train, evals, totalSteps) {
  const dpr = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || 640;
  const cssHeight = canvas.clientHeight || 240;
  if (canvas.width !== Math.round(cssWidth * dpr)) {
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
  const pad = { left: 52, right: 12, top: 10, bottom: 26 };
  const w = cssWidth - pad.left - pad.right;
  const h = cssHeight - pad.top - pad.bottom;
  const values = [...train.map((p) => p.loss), ...evals.map((p) => p.loss)].filter(Number.isFinite);
  canvas.dataset.steps = String(train.length);
  canvas.dataset.evals = String(evals.length);
  if (values.length === 0) {
    canvas.setAttribute('aria-label', 'Loss chart: no steps yet');
    return;
  }
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
  const maxStep = Math.max(totalSteps || 1, ...train.map((p) => p.step), 1);
  const x = (step) => pad.left + (step / maxStep) * w;
  const y = (loss) => pad.top + (1 - (loss - lo) / (hi - lo)) * h;

  ctx.strokeStyle = fg;
  ctx.globalAlpha = 0.35;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(pad.left, pad.top);
  ctx.lineTo(pad.left, pad.top + h);
  ctx.lineTo(pad.left + w, pad.top + h);
  ctx.stroke();
  ctx.globalAlpha = 1;
  ctx.fillStyle = fg;
  ctx.font = '12px system-ui, sans-serif';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  ctx.fillText(hi.toFixed(3), pad.left - 6, pad.top + 6);
  ctx.fillText(lo.toFixed(3), pad.left - 6, pad.top + h - 6);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  ctx.fillText('0', pad.left, pad.top + h + 6);
  ctx.fillText(`step ${maxStep}`, pad.left + w - 24, pad.top + h + 6);

  ctx.strokeStyle = trainColour;
  ctx.lineWidth = 2;
  ctx.beginPath();
  train.filter((p) => Number.isFinite(p.loss)).forEach((p, i) => {
    if (i === 0) ctx.moveTo(x(p.step), y(p.loss));
    else ctx.lineTo(x(p.step), y(p.loss));
  });
  ctx.stroke();
  ctx.fillStyle = evalColour;
  for (const p of evals.filter((e) => Number.isFinite(e.loss))) {
    ctx.beginPath();
    ctx.arc(x(p.step), y(p.loss), 4, 0, 2 * Math.PI);
    ctx.fill();
  }
  const last = train[train.length - 1];
  const lastEval = evals[evals.length - 1];
  canvas.setAttribute('aria-label', `Loss chart: ${train.length} steps, latest training loss ${last ? last.loss.toFixed(4) : 'none'}` +
    (lastEval ? `, latest eval loss ${lastEval.loss.toFixed(4)} at step ${lastEval.step}` : ''));
}
