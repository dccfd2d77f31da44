// Engine-check page: starts the engine worker, asks it for the engine check and renders the report.
import { connect } from './client.js';

const status = document.getElementById('status');
const rerun = document.getElementById('rerun');
const worker = connect('worker.js', {
  onEvent: (data) => {
    if (data.type === 'ready') check();
    else if (data.type === 'error') fail(data.message);
  },
  onEnd: (e) => fail(e.message),
});

function formatBytes(n) {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`;
}

function render(report) {
  const tbody = document.querySelector('#results tbody');
  tbody.replaceChildren();
  if (!report.adapter) {
    status.textContent = 'WebGPU is not available in this browser: training will use the slower CPU engine.';
    status.title = report.gpu_error;
    status.dataset.state = 'no-gpu';
    return;
  }
  document.getElementById('adapter').hidden = false;
  document.getElementById('adapter-name').textContent = report.adapter;
  document.getElementById('adapter-limit').textContent = formatBytes(report.max_storage_binding_bytes);
  for (const r of report.results) {
    const row = tbody.insertRow();
    row.insertCell().textContent = r.op;
    const err = row.insertCell();
    err.className = 'num';
    err.textContent = Number(r.max_error).toExponential(2);
    const verdict = row.insertCell();
    verdict.textContent = r.passed ? 'ok' : 'mismatch';
    verdict.className = r.passed ? 'ok' : 'bad';
  }
  document.getElementById('results').hidden = false;
  const failed = report.results.filter((r) => !r.passed).length;
  status.textContent = failed === 0
    ? `All ${report.results.length} ops match the CPU reference (${(report.elapsed_ms / 1000).toFixed(1)} s).`
    : `${failed} of ${report.results.length} ops do not match the CPU reference on this GPU.`;
  status.dataset.state = failed === 0 ? 'ok' : 'mismatch';
}

function fail(message) {
  status.textContent = `Error: ${message}`;
  status.dataset.state = 'error';
  rerun.disabled = false;
}

async function check() {
  rerun.disabled = true;
  status.textContent = 'Checking the GPU kernels…';
  try {
    render(await worker.request('check'));
    rerun.disabled = false;
  } catch (e) {
    fail(e.message);
  }
}

rerun.addEventListener('click', check);
