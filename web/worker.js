// The worker owns the wasm engine; the page only sends requests and renders the replies.
// Messages out: {status: 'ready'} | {status: 'report', report} | {status: 'error', message}.
import init, { engineCheck } from './pkg/svdtune.js';

const ready = init().then(
  () => postMessage({ status: 'ready' }),
  (e) => postMessage({ status: 'error', message: `the engine failed to load: ${e}` }),
);

onmessage = async (event) => {
  await ready;
  if (event.data.cmd === 'check') {
    try {
      postMessage({ status: 'report', report: await engineCheck() });
    } catch (e) {
      postMessage({ status: 'error', message: String(e) });
    }
  }
};
