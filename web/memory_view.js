// The memory table of section 1: what a training run at the current settings would hold (the
// engine's estimate from the model's config and tensor headers, Session.memory), shown before
// the model's weights load and updated when the batch size, sequence length, rank fraction,
// factor precision or GPU memory setting change. A run that does not fit even with activation
// recomputation is refused with the numbers: Train stays disabled with the reason, before
// anything is uploaded. Browsers report no GPU memory size, so on WebGPU the limit is the page's
// "GPU memory" setting (and `?max-memory=`, the smaller); on the CPU engine wasm32's 4 GiB.

import { $, bytesText, row } from './dom.js';

// Renders `m` (the engine's memory view: {weights, factors, optimizer, activations,
// decomposition, total, recompute, batch_size, seq_len, limit, device, fits, refused}).
export function renderMemory(m) {
  const tbody = $('memory-table').tBodies[0];
  tbody.replaceChildren();
  const acts = m.recompute ? 'Activations (recomputed in backward)' : 'Activations';
  // The decomposition runs first, over weights and factors: the total is the larger phase.
  const parts = [['Weights', m.weights], ['Factors U, V, Σ', m.factors], ['Optimizer', m.optimizer], [acts, m.activations], ['Decomposition (before training)', m.decomposition], ['Total (the larger phase)', m.total]];
  for (const [part, bytes] of parts) {
    row(tbody, [part, bytesText(bytes)]);
    tbody.lastElementChild.cells[1].dataset.bytes = String(bytes); // exact, for tests
  }
  const where = m.device === 'GPU' ? 'GPU memory' : "the CPU engine's memory";
  $('memory-caption').textContent = `Memory of a training run at batches of ${m.batch_size} × ${m.seq_len}`;
  const verdict = $('memory-verdict');
  if (m.limit == null) {
    verdict.textContent = '';
    verdict.className = '';
  } else if (m.fits) {
    verdict.textContent = `Fits ${bytesText(m.limit)} of ${where}${m.recompute ? ' with activation recomputation' : ''}.`;
    verdict.className = 'ok';
  } else {
    verdict.textContent = `Training is refused: ${m.refused}. f16 factors need less too; the GPU memory setting can be raised if this GPU has more.`;
    verdict.className = 'bad';
  }
  $('memory').hidden = false;
}

export function clearMemory() {
  $('memory').hidden = true;
  $('memory-table').tBodies[0].replaceChildren();
  $('memory-verdict').textContent = '';
}

// Why Train is refused for memory view `m` (null: it is not).
export const memoryRefusal = (m) => (m && !m.fits ? `Does not fit: ${m.refused}` : null);
