// The demo: with `?demo` (or `?demo=FOLDER`) in the address, the page fetches the model, the
// data file and the settings that scripts/demo.sh put in web/demo/ (or web/FOLDER/, described by
// its manifest.json) and loads them, so that Train works at once.
import { $, setStatus } from './dom.js';

// `page`: {status (the model's status line), writeOptions(settings), setData(File),
// loadModel({folder, entries})}.
export async function demoFromAddress(params, page) {
  if (!params.has('demo')) return;
  const folder = params.get('demo') || 'demo';
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(folder)) throw new Error(`"${folder}" is not a demo folder name`);
    const get = async (path) => {
      const r = await fetch(`${folder}/${path}`);
      if (!r.ok) throw new Error(`${folder}/${path}: ${r.status} ${r.statusText} (run scripts/demo.sh first)`);
      return r;
    };
    const m = await (await get('manifest.json')).json();
    setStatus(page.status, `Fetching the demo model ${m.model.name}…`);
    const entries = [];
    for (const name of m.model.files) entries.push({ name, file: new File([await (await get(`model/${name}`)).blob()], name) });
    const data = new File([await (await get(m.data)).blob()], m.data);
    page.writeOptions(m.settings ?? {});
    if (m.prompt) $('prompt').value = m.prompt;
    page.setData(data);
    await page.loadModel({ folder: m.model.name, entries });
    $('demo-note').textContent = `Demo: ${m.model.name} and ${m.data} are loaded with their settings; press Train, then ask the prompt again.`;
    $('demo-note').hidden = false;
  } catch (e) {
    setStatus(page.status, `Cannot load the demo: ${e.message}`, 'bad');
  }
}
