// Generate on the training page: the prompt is tokenized by the data worker, then the engine
// answers twice (original weights, then the current Σ), streaming each answer as it grows: the
// worker posts the text so far after every token (progress {what: 'original' | 'current', done:
// tokens, total, name: text, ms}), shown in the answer column with "N tokens, X tokens/s" under
// it. The outputs are aria-busy while they grow, so screen readers read the finished answer.

// The line under an answer: `tokens` produced in `ms` milliseconds (prefill included).
export function rateText(tokens, ms) {
  const rate = ms > 0 ? tokens / (ms / 1000) : 0;
  return `${tokens} token${tokens === 1 ? '' : 's'}, ${rate >= 10 ? rate.toFixed(0) : rate.toFixed(1)} tokens/s`;
}

// Runs one Generate. `encode(prompt)` resolves to the prompt's token ids (the data worker);
// `request` is the engine's (client.js); `columns`: {original, current}, each {answer, rate}
// elements (`current` absent with `both` false: before a run has trained only the original is
// asked for). Resolves when the answers are in (errors are shown in the last column).
export async function generateAnswers({ prompt, maxNewTokens, encode, request, columns, both = true }) {
  const cols = Object.values(columns);
  for (const c of cols) {
    c.answer.textContent = '…';
    c.rate.textContent = '';
    c.answer.setAttribute('aria-busy', 'true');
    delete c.answer.dataset.updates;
  }
  const show = (col, text, tokens, ms) => {
    col.answer.textContent = text;
    col.rate.textContent = rateText(tokens, ms);
  };
  try {
    const ids = await encode(prompt);
    const onProgress = (p) => {
      const col = columns[p.what];
      if (!col) return;
      col.answer.dataset.updates = String(Number(col.answer.dataset.updates ?? 0) + 1);
      show(col, p.name, p.done, p.ms);
    };
    const out = await request('generate', { ids, maxNewTokens, both }, { onProgress });
    for (const [what, col] of Object.entries(columns)) show(col, out[what].text, out[what].tokens, out[what].ms);
  } catch (err) {
    columns.original.answer.textContent = '';
    (columns.current ?? columns.original).answer.textContent = `Error: ${err.message}`;
    for (const c of cols) c.rate.textContent = '';
  } finally {
    for (const c of cols) c.answer.removeAttribute('aria-busy');
  }
}
