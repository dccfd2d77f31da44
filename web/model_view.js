// Keeps the model's details and SVD plan on the page true to the engine: after a model failed to
// load, the previous model is gone from the engine and its details and plan leave the page; when
// the engine kept the previous model (a new folder's chat template was refused before loading),
// they stay, marked as the model still loaded. Also says, before any training, that Generate
// shows the model as loaded (one answer), and both answers once a run has trained a step.

import { $, fmt, pct, row } from './dom.js';

// The SVD plan `s` (the engine's plan summary): the layers with their rank, and the trainable
// parameters against LoRA at a few ranks.
export function renderPlan(s) {
  const tbody = $('plan-layers').tBodies[0];
  tbody.replaceChildren();
  for (const g of s.groups) {
    row(tbody, [g.count > 1 ? `${g.module} (× ${g.count})` : g.module, `${g.m} × ${g.n}`, g.q, fmt(g.sigma)]);
  }
  const cmp = $('plan-compare').tBodies[0];
  cmp.replaceChildren();
  const t = s.totals.find((x) => Math.abs(x.rank_fraction - s.rank_fraction) < 1e-12) ?? s.totals[0];
  row(cmp, [`SVD Σ${s.train_norms ? ' + norms' : ''} at rank fraction ${s.rank_fraction}`, fmt(t.trainable), pct(t.percent_of_model)]);
  for (const l of s.lora) {
    row(cmp, [`LoRA r=${l.rank}`, fmt(l.params), pct((100 * l.params) / s.model_params)]);
  }
  $('plan').hidden = false;
}

// The model is gone: no details, no plan.
export function clearModel() {
  $('model-info').hidden = true;
  $('model-info').replaceChildren();
  $('plan').hidden = true;
  $('model-kept').hidden = true;
}

// `kept` (the loaded model's name) stays loaded although `refused` (a folder) was not: the
// details and plan on the page are the kept model's, and say so.
export function markKept(kept, refused) {
  const el = $('model-kept');
  el.textContent = `The details and plan below are of ${kept}, the model still loaded (${refused} was not loaded).`;
  el.hidden = false;
}

export function unmarkKept() {
  $('model-kept').hidden = true;
}

// Shows one answer column ("the model as loaded") before a run has trained, both after.
export function answerColumns(trained) {
  $('answer-current').closest('figure').hidden = !trained;
  $('answer-original').closest('figure').querySelector('figcaption').textContent = trained ? 'Original model' : 'The model as loaded';
}
