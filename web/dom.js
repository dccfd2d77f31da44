// Small helpers every module of the training page shares: element look-up, number and byte
// formatting as the engine's messages write them, status lines, definition lists and table rows.

export const $ = (id) => document.getElementById(id);
export const fmt = (n) => Number(n).toLocaleString('en-US');
// Bytes in decimal units, as the engine's messages write them.
export const bytesText = (b) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);
export const pct = (n) => (n >= 10 ? `${Math.round(n)}%` : `${Number(n).toPrecision(2)}%`);

// A status line: its text and its kind ('ok', 'bad', 'notice' or none) as its class.
export function setStatus(el, text, kind = '') {
  el.textContent = text;
  el.className = kind;
}

// Fills the definition list `el` with `[term, description]` pairs and shows it.
export function dl(el, pairs) {
  el.replaceChildren();
  for (const [k, v] of pairs) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    el.append(dt, dd);
  }
  el.hidden = false;
}

// Appends a row of `cells` to `tbody`; every cell after the first is a number.
export function row(tbody, cells) {
  const tr = tbody.insertRow();
  cells.forEach((c, i) => {
    const td = tr.insertCell();
    td.textContent = c;
    if (i > 0) td.className = 'num';
  });
}
