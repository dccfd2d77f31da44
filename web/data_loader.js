// The training page's data file: the data worker (data_client.js) reads it with the loaded
// model's tokenizer and chat template within the "Data time limit" setting (plus 5 s per MB),
// the engine takes the token ids (setData), and data_view.js renders what it says and picks the
// sequence length from it. A file given before a model waits for one. A setting the data info
// depends on asks the engine again; the file is read again only when the sequence length goes
// beyond the cut it was read with.
import { $, setStatus } from './dom.js';
import { dataBudget, dataJob } from './data_client.js';
import { clearData, fitSeqLen, readOptions as dataReadOptions, renderData, showPicked, withoutName } from './data_view.js';

// `state`: the page's state (model, textFiles, dataFile, data, dataReading); `request`: the
// engine's; `form`: the settings form; `options()`: its options or null; `updateButtons()`,
// `scheduleEstimate()`, `refreshMemory()`: the page's. Returns {budget, encodeData, loadData,
// refreshData}.
export function dataLoader({ state, request, form, options, updateButtons, scheduleEstimate, refreshMemory }) {
  // The data worker's budget in seconds for a data file of `bytes` (the "Data time limit"
  // setting).
  const budget = (bytes = 0) => dataBudget(Number(form.elements.data_budget.value) || 60, bytes);

  // A dataset's encoding for the engine's setData, read by the data worker.
  // It is read once, cut at data_view.js's READ_CAP tokens; the engine cuts it to each length tried.
  const encodeData = (files, file, o) => dataJob('encodeDataset', { model: files, name: file.name, file, options: dataReadOptions(o) }, files, file.name, budget(file.size));

  // Reads the data file (again, when a setting it depends on changed). A click on Train while it
  // is being read waits for it (`state.dataReading`).
  async function loadData(file, pre = null) {
    const reading = readData(file, pre);
    state.dataReading = reading;
    try {
      await reading;
    } finally {
      if (state.dataReading === reading) state.dataReading = null;
      updateButtons();
      refreshMemory(); // the sequence length may have been chosen from the data
    }
  }

  // `pre`: {file, options, encoded} when the file was already read with this model's template.
  async function readData(file, pre) {
    state.dataFile = file;
    state.data = null;
    const status = $('data-status');
    if (!state.model) {
      clearData();
      setStatus(status, `${file.name} is ready; it is read once a model is loaded (its tokenizer and chat template are needed).`);
      return;
    }
    const o = options();
    if (!o) return;
    setStatus(status, `Reading ${file.name}…`);
    try {
      const same = pre && pre.file === file && JSON.stringify(pre.options) === JSON.stringify(o);
      const encoded = same ? pre.encoded : await encodeData(state.textFiles, file, o);
      let d = await request('setData', { name: file.name, encoded, options: o }, { transfer: [encoded.buffer] });
      d = await fitSeqLen(d, form.elements.seq_len, state.model?.summary?.max_position_embeddings, () => request('dataInfo', { options: options() }));
      state.data = d;
      renderData(d);
      showPicked('data-picked', file.name);
      setStatus(status, `Read ${file.name}.`, 'ok');
      scheduleEstimate();
    } catch (e) {
      clearData();
      showPicked('data-picked', null);
      setStatus(status, `Cannot use ${file.name}: ${withoutName(e.message, file.name)}`, 'bad');
      status.dataset.kind = e.kind;
    }
    updateButtons();
  }

  // The data info again after a setting it depends on changed; the file is read again only when
  // the sequence length is beyond the cut it was read with.
  async function refreshData() {
    const o = options();
    if (!o || !state.data || (state.data.read_len != null && o.seq_len > state.data.read_len)) return loadData(state.dataFile);
    try {
      state.data = await request('dataInfo', { options: o });
      renderData(state.data);
      scheduleEstimate();
    } catch (e) {
      state.data = null;
      clearData();
      setStatus($('data-status'), `Cannot use ${state.dataFile.name}: ${withoutName(e.message, state.dataFile.name)}`, 'bad');
    }
    updateButtons();
  }

  return { budget, encodeData, loadData, refreshData };
}
