// A real client for `svdtune export-gguf`: llama.cpp (through the npm package node-llama-cpp,
// which ships prebuilt llama.cpp binaries) loads the exported F16 file of the tiny chat model
// (as llama, as qwen3 — tests/fixtures/tiny-chat-qwen3: per-head q/k norms —, as gemma3 —
// tests/fixtures/tiny-chat-gemma3: 1 + w norms, GeGLU, sliding window 4 — and as llama with
// Llama 3 RoPE scaling, written as rope_freqs.weight), of a tiny Phi-3 with a SentencePiece
// vocabulary (tests/fixtures/gguf/tiny_phi3_chat.gguf imported first), and of SmolLM2-135M-Instruct when ~/.cache/svdtune/SmolLM2-135M-Instruct.Q4_1.gguf is there
// (imported with `svdtune import-gguf` first), tokenizes the chat prompt `svdtune generate`
// rendered into the same ids and generates greedily the same tokens.
//
// Needs the release CLI (`cargo build --release --bin svdtune`; SVDTUNE_CLI overrides) and
// node-llama-cpp (package.json; NODE_LLAMA_CPP_MODULE may name its entry file). When the
// package or its binary is missing or cannot run here, the test says why and exits 0 (skipped).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const cli = process.env.SVDTUNE_CLI || `${process.env.CARGO_TARGET_DIR || `${root}target`}/release/svdtune`;
const TOKENS = 24;

function skip(why) {
  console.log(`gguf_llama: SKIPPED: ${why}`);
  process.exit(0);
}

let lib;
try {
  lib = await import(process.env.NODE_LLAMA_CPP_MODULE || 'node-llama-cpp');
} catch (e) {
  skip(`node-llama-cpp is not installed (npm ci installs it from package.json): ${e.message.split('\n')[0]}`);
}
let llama;
try {
  llama = await lib.getLlama({ gpu: false, build: 'never', logLevel: lib.LlamaLogLevel.error });
} catch (e) {
  skip(`node-llama-cpp has no prebuilt llama.cpp binary that runs on this machine: ${e.message.split('\n')[0]}`);
}
if (!existsSync(cli)) {
  console.error(`gguf_llama: ${cli} is missing: run cargo build --release --bin svdtune`);
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'svdtune-gguf-llama-'));
const run = (args) => execFileSync(cli, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });

async function check(name, folder, exact) {
  const gguf = join(work, `${name}.gguf`);
  run(['export-gguf', '--model', folder, '--out', gguf, '--type', 'f16']);
  const prompt = 'Write a short poem about the sea.';
  const system = 'You are a helpful assistant.';
  const g = spawnSync(cli, ['generate', '--model', folder, '--prompt', prompt, '--system', system, '--max-new-tokens', String(TOKENS), '--backend', 'cpu', '--print-ids'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (g.status !== 0) throw new Error(`${name}: svdtune generate failed: ${g.stderr}`);
  const line = g.stderr.split('\n').find((l) => l.startsWith('{"'));
  const want = JSON.parse(line);
  // svdtune's ids end with the end-of-turn token when it stopped before TOKENS; llama.cpp's
  // evaluate stops at an end-of-generation token without yielding it.
  const stoppedAtEos = want.new.length < TOKENS;
  const expected = stoppedAtEos ? want.new.slice(0, -1) : want.new;
  if (expected.length < 16) throw new Error(`${name}: svdtune stopped after ${expected.length} tokens; the check wants 16 or more`);

  const model = await llama.loadModel({ modelPath: gguf });
  const ids = [...model.tokenize(want.rendered, true)];
  if (JSON.stringify(ids) !== JSON.stringify(want.prompt)) {
    throw new Error(`${name}: llama.cpp tokenizes the prompt into ${JSON.stringify(ids)}, svdtune into ${JSON.stringify(want.prompt)}`);
  }
  const options = { contextSize: 256, threads: 2, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' };
  // Free generation from the prompt.
  let context = await model.createContext(options);
  const got = [];
  for await (const t of context.getSequence().evaluate(want.prompt, { temperature: 0 })) {
    got.push(t);
    if (got.length >= expected.length) break;
  }
  await context.dispose();
  // Teacher-forced: llama.cpp's greedy choice after each prefix of svdtune's tokens.
  let agree = 0;
  for (let k = 0; k < want.new.length; k++) {
    context = await model.createContext(options);
    let next = null;
    for await (const t of context.getSequence().evaluate([...want.prompt, ...want.new.slice(0, k)], { temperature: 0 })) {
      next = t;
      break;
    }
    // No token: llama.cpp chose an end-of-generation token.
    if (next === want.new[k] || (next === null && stoppedAtEos && k === want.new.length - 1)) agree++;
    await context.dispose();
  }
  await model.dispose();
  console.log(`gguf_llama: ${name}: svdtune ${JSON.stringify(want.new)}, llama.cpp ${JSON.stringify(got)}; teacher-forced agreement ${agree}/${want.new.length}`);
  if (exact && JSON.stringify(got) !== JSON.stringify(expected)) {
    throw new Error(`${name}: llama.cpp's greedy tokens differ from svdtune's`);
  }
  // A random tiny model's logits are nearly flat: llama.cpp's f16 activations in its matrix
  // products may flip a near tie, so it must agree on nearly every step, not all.
  if (agree < want.new.length - 2) {
    throw new Error(`${name}: llama.cpp agrees with svdtune's next token at only ${agree} of ${want.new.length} steps`);
  }
  console.log(`gguf_llama: ${name}: llama.cpp loads the F16 export and generates as svdtune does`);
}

try {
  await check('tiny-chat', `${root}tests/fixtures/tiny-chat`, false);
  await check('tiny-chat-qwen3', `${root}tests/fixtures/tiny-chat-qwen3`, false);
  await check('tiny-chat-gemma3', `${root}tests/fixtures/tiny-chat-gemma3`, false);
  // Llama 3 RoPE scaling, which the export writes as the tensor rope_freqs.weight: with head_dim
  // 8 and original 16 the first frequency is smoothed and the other three divided by 8.
  const llama3 = join(work, 'tiny-chat-llama3');
  cpSync(`${root}tests/fixtures/tiny-chat`, llama3, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(llama3, 'config.json'), 'utf8'));
  cfg.rope_parameters = { rope_type: 'llama3', rope_theta: 10000.0, factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 16 };
  writeFileSync(join(llama3, 'config.json'), JSON.stringify(cfg, null, 2));
  await check('tiny-chat-llama3', llama3, false);
  // Phi-3 with a SentencePiece vocabulary: imported from its GGUF, exported again (fused
  // projections, tokenizer model "llama", scores rebuilt from the merges).
  const phi3 = join(work, 'tiny-phi3-chat');
  run(['import-gguf', `${root}tests/fixtures/gguf/tiny_phi3_chat.gguf`, '--out', phi3]);
  await check('tiny-phi3-chat', phi3, false);
  const smol = join(homedir(), '.cache/svdtune/SmolLM2-135M-Instruct.Q4_1.gguf');
  if (existsSync(smol)) {
    const folder = join(work, 'smollm2');
    run(['import-gguf', smol, '--out', folder]);
    await check('SmolLM2-135M-Instruct', folder, true);
  } else {
    console.log(`gguf_llama: ${smol} not found: SmolLM2 not checked`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
