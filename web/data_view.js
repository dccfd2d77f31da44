// What the page shows about the data file and the choices that depend on it: the data info
// (statistics, rows and batches for the packing choice, padding), the sequence length chosen
// from the data when the user has not set one ("Sequence length 256: fits 95 % of the
// examples; 3 are cut"), the skipped records, the name of the loaded file beside its picker,
// and counts written with the right plural. The data worker reads a file once, cut at
// READ_CAP tokens (or the sequence length, if longer); the engine cuts it shorter for each
// sequence length tried (src/data/cut.rs), so changing the length or packing reads nothing again.

import { $, dl, fmt } from './dom.js';

// The cut the data worker reads a file with: long enough for any length the page picks.
export const READ_CAP = 8192;
// The sequence length chosen from the data: the 95th percentile of the examples' lengths,
// rounded up to a multiple of STEP, at least STEP, at most the model's context and AUTO_MAX.
const STEP = 64;
const AUTO_MAX = 2048;

// `n word` with the word's plural when n is not 1 ("1 step", "2 steps", "3 batches").
export function plural(n, word, many = word.endsWith('h') || word.endsWith('s') ? `${word}es` : `${word}s`) {
  return `${fmt(n)} ${n === 1 ? word : many}`;
}

// The options the data worker reads the file with (`o` with the read cap as its length).
export const readOptions = (o) => ({ ...o, seq_len: Math.max(o.seq_len, READ_CAP) });

// Whether the sequence length field holds the page's choice (not one the user typed, a demo's
// or a checkpoint's settings).
export const seqLenIsAuto = (field) => field.dataset.auto === '1';
export function markSeqLenSet(field) {
  delete field.dataset.auto;
}

// The length the data needs (see STEP, AUTO_MAX) for data info `d` and a model of `context`
// positions.
export function chooseSeqLen(d, context) {
  const top = Math.max(STEP, Math.min(context || AUTO_MAX, AUTO_MAX));
  return Math.min(top, Math.max(STEP, Math.ceil(d.p95_len / STEP) * STEP));
}

// With `field` (the sequence length) still the page's choice, sets it to what data info `d`
// needs for a model of `context` positions and resolves to `again()`, the data info for it (the
// engine cuts the file; nothing is read again); otherwise to `d`.
export async function fitSeqLen(d, field, context, again) {
  if (!seqLenIsAuto(field)) return d;
  const want = chooseSeqLen(d, context);
  if (want === d.seq_len) return d;
  field.value = want;
  return again();
}

// A message that starts with the file's name (the engine names the file) without it, so the
// page's own "Cannot use NAME: " says it once.
export function withoutName(message, name) {
  const prefix = `${name}: `;
  return message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

// The data info and skipped records of `d` (the engine's dataInfo) on the page.
export function renderData(d) {
  const share = d.examples ? (100 * (d.examples - d.truncated)) / d.examples : 100;
  const fill = d.train_batch_tokens ? Math.round((100 * d.train_real_tokens) / d.train_batch_tokens) : 100;
  const rows = d.pack ? `${plural(d.train_rows, 'packed row')}, ` : '';
  const pairs = [
    ['Format', `${d.format} (${d.container})`],
    ['Examples', `${fmt(d.examples)} of ${plural(d.records, 'record')} (${fmt(d.skipped)} skipped, ${fmt(d.truncated)} cut to ${fmt(d.seq_len)} tokens)`],
    ['Tokens', `${fmt(d.tokens)}, ${fmt(d.trained_tokens)} trained`],
    ['Longest', `${plural(d.longest, 'token')} (line ${d.longest_line}); 95 % of the examples have at most ${plural(d.p95_len, 'token')}`],
    ['Split', `${fmt(d.train_examples)} train (${rows}${plural(d.train_batches, 'batch')}), ${fmt(d.eval_examples)} eval (${plural(d.eval_batches, 'batch')})`],
    ['Batches', `${d.pack ? 'examples packed into rows' : 'one example per row'}; each batch is as wide as its longest row: ${fill} % of the train batches' tokens are the examples' (the rest is padding)`],
  ];
  dl($('data-info'), pairs);
  const fits = d.truncated === 0 ? 'fits every example' : `fits ${Math.floor(share)} % of the examples; ${fmt(d.truncated)} ${d.truncated === 1 ? 'is' : 'are'} cut`;
  $('seq-choice').textContent = `Sequence length ${fmt(d.seq_len)}: ${fits}.`;
  $('seq-choice').hidden = false;
  const skips = $('data-skips');
  skips.hidden = d.skips.length === 0;
  skips.querySelector('summary').textContent = `Skipped records (${fmt(d.skipped)})`;
  skips.querySelector('ul').replaceChildren(...d.skips.map(([line, reason]) => {
    const li = document.createElement('li');
    li.textContent = `line ${line}: ${reason}`;
    return li;
  }));
}

// Takes the data info of a file that is gone (a newer one failed, or no model reads it) off the
// page.
export function clearData() {
  $('data-info').hidden = true;
  $('data-info').replaceChildren();
  $('data-skips').hidden = true;
  $('seq-choice').hidden = true;
}

// Shows `text` (the loaded folder or file) beside the picker `id` ("model-picked",
// "data-picked"), where the browser's own input says "No file chosen" after a drop or the demo.
export function showPicked(id, text) {
  const el = $(id);
  el.textContent = text ? `Loaded: ${text}` : '';
  el.hidden = !text;
}
