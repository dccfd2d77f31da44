// The offer to resume a run from the checkpoint in browser storage (#resume-offer): it names the
// checkpoint's model, data and step; Resume writes its settings into the form and trains from it
// (once the same model and data are loaded), Forget deletes it.
import { $ } from './dom.js';

// `request`: the engine's; `writeOptions(o)`: the settings form's; `train(resume)`: the page's.
// Returns {offerResume, resume, forget}.
export function resumeOffer({ request, writeOptions, train }) {
  let saved = null;

  // Shows the offer when browser storage holds a checkpoint.
  async function offerResume() {
    saved = await request('savedCheckpoint').catch(() => null);
    $('resume-offer').hidden = !saved;
    if (saved) {
      $('resume-text').textContent = `A checkpoint of ${saved.model} on ${saved.data} after step ${saved.step} (${new Date(saved.saved).toLocaleString()}) is in this browser's storage. Load the same model and data, then resume it.`;
    }
  }

  function resume() {
    if (saved) writeOptions(saved.options);
    $('resume-offer').hidden = true;
    train(true);
  }

  async function forget() {
    await request('forgetCheckpoint');
    $('resume-offer').hidden = true;
  }

  return { offerResume, resume, forget };
}
