// The training page's settings form (#settings): reads the options the engine takes from it,
// checking every field first (a bad one gets the focus and #settings-error names it), and writes
// options back into it (a saved checkpoint's, the demo's). The memory limit is the "GPU memory"
// setting on WebGPU and none on the CPU engine, which keeps its own.
import { $ } from './dom.js';
import { markSeqLenSet } from './data_view.js';

// `form`: the settings form; `onGpu()`: whether the engine runs on WebGPU.
// Returns {options, writeOptions}.
export function settingsForm(form, onGpu) {
  // The options the engine takes, from the form; throws a message naming the bad field.
  function readOptions() {
    const f = form.elements;
    for (const el of f) {
      if (el.name && !el.checkValidity()) {
        el.focus();
        throw new Error(`${el.closest('label').textContent.trim()}: ${el.validationMessage}`);
      }
    }
    const num = (name) => Number(f[name].value);
    const int = (name) => {
      const v = num(name);
      if (!Number.isInteger(v)) throw new Error(`${f[name].closest('label').textContent.trim()}: a whole number is needed`);
      return v;
    };
    return {
      rank_fraction: num('rank_fraction'),
      lr: num('lr'),
      epochs: int('epochs'),
      max_steps: f.max_steps.value === '' ? null : int('max_steps'),
      batch_size: int('batch_size'),
      seq_len: int('seq_len'),
      grad_accum: int('grad_accum'),
      eval_fraction: num('eval_fraction'),
      eval_every: int('eval_every'),
      freeze_norms: f.freeze_norms.checked,
      pack: f.pack.checked,
      seed: int('seed'),
      factor_format: f.factor_format.value,
      // Browsers report no GPU memory size: the run must fit the setting (the CPU engine's limit
      // is its own).
      memory_limit: onGpu() ? Math.round(num('gpu_memory') * 1e9) : null,
    };
  }

  // Sets the fields `o` names (the others are left as they are); a sequence length written here
  // is no longer the page's choice (data_view.js).
  function writeOptions(o) {
    const f = form.elements;
    for (const [k, v] of Object.entries(o)) {
      if (!f[k]) continue;
      if (k === 'seq_len') markSeqLenSet(f[k]);
      if (f[k].type === 'checkbox') f[k].checked = Boolean(v);
      else f[k].value = v ?? '';
    }
  }

  // The options, or null with the reason shown under the form.
  function options() {
    try {
      const o = readOptions();
      $('settings-error').textContent = '';
      return o;
    } catch (e) {
      $('settings-error').textContent = e.message;
      return null;
    }
  }

  return { options, writeOptions };
}
