// The native CLI's side of the page tests: the settings both use, and what `svdtune train` +
// `svdtune eval` reach with them (the page must reach the same loss over the file).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

const root = new URL('../../', import.meta.url).pathname;
export const fixture = `${root}tests/fixtures/tiny-chat`;
export const cli = `${process.env.CARGO_TARGET_DIR || `${root}target`}/release/svdtune`;

// Page settings (form field → value): 12 steps of the tiny chat model.
export const SETTINGS = { rank_fraction: '0.5', lr: '0.03', epochs: '4', max_steps: '12', batch_size: '4', seq_len: '64', eval_fraction: '0.2', eval_every: '4', checkpoint_every: '4' };

// `svdtune eval`'s mean loss of a model folder over the fixture's data.
export function evalLoss(model) {
  const s = SETTINGS;
  const said = execFileSync(cli, ['eval', '--model', model, '--data', `${fixture}/data.jsonl`, '--seq-len', s.seq_len, '--batch-size', s.batch_size, '--backend', 'cpu'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  return Number(/mean loss ([0-9.]+)/.exec(said)?.[1]);
}

// The loss over the file after `svdtune train` with SETTINGS into `out`.
export function nativeTrainLoss(out) {
  rmSync(out, { recursive: true, force: true });
  const s = SETTINGS;
  execFileSync(cli, ['train', '--model', fixture, '--data', `${fixture}/data.jsonl`, '--out', out, '--rank-fraction', s.rank_fraction, '--lr', s.lr, '--epochs', s.epochs, '--max-steps', s.max_steps, '--batch-size', s.batch_size, '--seq-len', s.seq_len, '--eval-split', s.eval_fraction, '--eval-every', s.eval_every, '--backend', 'cpu'], { stdio: 'ignore' });
  return evalLoss(out);
}
