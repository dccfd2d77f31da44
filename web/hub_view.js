// The "model from the Hub" form of the training page (hub.js does the fetching and caching): a
// model id and an optional token (kept in the input only, never stored), Load and Stop, one
// progress bar over all the files with the bytes and the time left, and the list of models cached
// in this browser with their sizes and a Delete button each. A loaded model is handed to the
// page's `loadModel` as if its files had been dropped. `?hub=URL` in the page's address replaces
// the Hub's endpoint (for tests against a local server; the page's Content-Security-Policy must
// allow that origin: scripts/serve.py --hub URL).
import { $, bytesText, setStatus } from './dom.js';
import { DEFAULT_ENDPOINT, deleteCached, fetchModel, listCached } from './hub.js';

const seconds = (s) => (s >= 90 ? `${Math.round(s / 60)} min` : `${Math.max(1, Math.round(s))} s`);

// `params`: the page's URL parameters; `loadModel({folder, entries})`: the page's loader.
// Returns `{ready()}`: call it once the engine is open (Load is disabled until then).
export function hubView({ params, loadModel }) {
  const endpoint = (params.get('hub') || DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const status = $('hub-status');
  const bar = $('hub-progress');
  let controller = null;
  let engineReady = false;

  const buttons = () => {
    $('hub-load').disabled = !engineReady || Boolean(controller);
    $('hub-stop').disabled = !controller;
  };

  async function renderCached() {
    const list = $('hub-cached');
    const models = await listCached().catch(() => []);
    list.replaceChildren();
    for (const m of models) {
      const li = document.createElement('li');
      const name = document.createElement('span');
      const from = m.endpoint === DEFAULT_ENDPOINT ? '' : ` from ${m.endpoint}`;
      name.textContent = `${m.id}${from}: ${bytesText(m.bytes)} `;
      const del = document.createElement('button');
      del.type = 'button';
      del.textContent = 'Delete';
      del.setAttribute('aria-label', `Delete ${m.id} from this browser`);
      del.addEventListener('click', async () => {
        await deleteCached(m.base);
        setStatus(status, `Deleted ${m.id} from this browser's storage.`, 'ok');
        await renderCached();
      });
      li.append(name, del);
      list.append(li);
    }
    $('hub-cached-box').hidden = models.length === 0;
  }

  function progress({ done, total, file }, start) {
    bar.max = total || 1;
    bar.value = Math.min(done, total);
    const elapsed = (performance.now() - start.t) / 1000;
    const rate = (done - start.done) / Math.max(elapsed, 1e-3);
    const left = total > done && rate > 0 && elapsed > 0.5 ? `, about ${seconds((total - done) / rate)} left` : '';
    const now = file ? ` (${file})` : '';
    status.textContent = `Downloading ${bytesText(done)} of ${bytesText(total)}${left}${now}…`;
  }

  async function load(e) {
    e?.preventDefault();
    const id = $('hub-id').value.trim();
    if (!id || controller) return;
    controller = new AbortController();
    buttons();
    delete status.dataset.kind;
    delete status.dataset.cached;
    setStatus(status, `Looking up ${id}…`);
    bar.hidden = false;
    bar.value = 0;
    let start = null;
    try {
      const got = await fetchModel({
        id, token: $('hub-token').value.trim(), endpoint, signal: controller.signal,
        onProgress: (p) => { start ??= { t: performance.now(), done: p.done }; progress(p, start); },
      });
      const how = got.cached ? 'from this browser\'s storage (no download)' : 'downloaded and kept in this browser';
      setStatus(status, `${id}: ${got.entries.length} files, ${bytesText(got.bytes)}, ${how}.`, 'ok');
      status.dataset.cached = String(got.cached);
      bar.hidden = true;
      controller = null;
      buttons();
      await renderCached();
      await loadModel({ folder: got.folder, entries: got.entries });
    } catch (err) {
      const stopped = err.kind === 'stopped' || controller?.signal.aborted;
      setStatus(status, stopped ? `Stopped downloading ${id}; the files already complete are kept for the next try.` : `Cannot get ${id}: ${err.message}.`, stopped ? 'notice' : 'bad');
      status.dataset.kind = stopped ? 'stopped' : (err.kind ?? 'error');
      if (err.kind === 'gated') $('hub-token').focus();
      await renderCached();
    } finally {
      bar.hidden = true;
      controller = null;
      buttons();
    }
  }

  $('hub-form').addEventListener('submit', load);
  $('hub-stop').addEventListener('click', () => controller?.abort());
  if (endpoint !== DEFAULT_ENDPOINT) $('hub-endpoint').textContent = ` (from ${endpoint})`;
  buttons();
  renderCached();
  return { ready: () => { engineReady = true; buttons(); } };
}
