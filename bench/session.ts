// What a session saves a grid of jobs, and what restoring its base weights costs: the time to
// open a session (read the model file + upload, or upload only), to merge an adapter (r 8, all
// seven targets), and to restore the original base after a merge (engine/jobs/session.ts
// rebuilds the model: from the kept host copy, or by reading the file again), beside one SFT step.
//   node --import tsx bench/session.ts [--backend wasm|webgpu] [--threads N] [--dim 512 --layers 8 --vocab 32000]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { saveAdapter } from '../engine/adapter.ts';
import { randomLlamaWeights, tinyLlamaConfig } from '../engine/demo.ts';
import { writeSafetensors } from '../engine/io/safetensors.ts';
import { Session } from '../engine/jobs/session.ts';
import { Lora, loraTargetNames } from '../engine/lora.ts';
import { ByteTokenizer } from '../engine/tokenizer/bytes.ts';
import { sftStep } from '../engine/vaccine.ts';
import { selectBackend, type BackendKind } from '../bindings/select.ts';

const { values } = parseArgs({ options: {
  backend: { type: 'string' }, threads: { type: 'string' }, dim: { type: 'string' }, layers: { type: 'string' }, vocab: { type: 'string' },
} });
const dim = Number(values.dim ?? 512), layers = Number(values.layers ?? 8), vocab = Number(values.vocab ?? 32000);
const config = tinyLlamaConfig({
  vocabSize: vocab, dim, hiddenDim: Math.round(dim * 8 / 3 / 32) * 32, nLayers: layers, nHeads: dim / 64, nKvHeads: dim / 64, headDim: 64,
  maxSeqLen: 256, tiedEmbeddings: false, bosId: 1, eosId: 2, namePath: 'bench:random',
});
const weights = randomLlamaWeights(config, 1);
let params = 0;
for (const t of weights.values()) params += t.data.length;
const backend = await selectBackend((values.backend ?? 'wasm') as BackendKind, { quiet: true, threads: values.threads ? Number(values.threads) : undefined });
const dir = mkdtempSync(join(tmpdir(), 'bench-session-'));
const modelDir = join(dir, 'model');
mkdirSync(modelDir);
writeFileSync(join(modelDir, 'config.json'), JSON.stringify({
  architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: vocab, hidden_size: dim, intermediate_size: config.hiddenDim,
  num_hidden_layers: layers, num_attention_heads: config.nHeads, num_key_value_heads: config.nKvHeads, max_position_embeddings: 256,
  rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
}));
writeSafetensors(join(modelDir, 'model.safetensors'), weights);
const adapterDir = join(dir, 'adapter');
{
  const lora = Lora.create(backend, config, { r: 8, alpha: 16, dropout: 0, targets: loraTargetNames(config), seed: 1 });
  await saveAdapter(adapterDir, lora, config);
  lora.dispose();
}
const tokenizer = new ByteTokenizer();

async function time(fn: () => Promise<unknown>): Promise<number> {
  await backend.sync();
  const t = performance.now();
  await fn();
  await backend.sync();
  return performance.now() - t;
}
const ms = (x: number) => `${x.toFixed(0)} ms`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`${backend.description}; ${cpus().length} cores; model dim ${dim}, ${layers} layers, vocab ${vocab}: ${(params / 1e6).toFixed(1)}M parameters (${(params * 4 / 2 ** 20).toFixed(0)} MiB f32)`);
const reps = 3;
const rows: [string, number][] = [];
let s: Session | null = null;
const xsFile: number[] = [], xsMem: number[] = [];
for (let i = 0; i < reps; i++) {
  xsFile.push(await time(async () => { s = await Session.open({ model: modelDir, tokenizer, backend }); }));
  await s!.close();
  xsMem.push(await time(async () => { s = await Session.open({ model: { config, weights }, tokenizer, backend }); }));
  await s!.close();
}
rows.push(['open from the file (read + upload)', median(xsFile)]);
rows.push(['open from memory (upload only)', median(xsMem)]);

for (const keep of [true, false]) {
  const session = await Session.open({ model: modelDir, tokenizer, backend, keepHostWeights: keep });
  const merge: number[] = [], restore: number[] = [];
  for (let i = 0; i < reps; i++) {
    merge.push(await time(() => session.setMerged([adapterDir])));
    restore.push(await time(() => session.setMerged([])));
  }
  if (keep) rows.push(['merge one adapter (r 8, 7 targets)', median(merge)]);
  rows.push([`restore the base (${keep ? 'host copy kept: upload' : 'no host copy: read the file + upload'})`, median(restore)]);
  if (!keep) {
    // one SFT step, batch 5 x 128 tokens, for scale
    session.model.lora = Lora.create(backend, config, { r: 8, alpha: 16, dropout: 0, targets: loraTargetNames(config), seed: 1 });
    const T = 128, B = 5;
    const ids = new Int32Array(B * T).map((_, i) => (i * 7919) % vocab);
    const batch = { B, T, ids, labels: ids.slice(), lengths: new Int32Array(B).fill(T) };
    const steps: number[] = [];
    for (let i = 0; i < 3; i++) steps.push(await time(() => sftStep(session.model, batch, { dropoutSeed: i })));
    rows.push(['one SFT step (batch 5 x 128 tokens), for scale', median(steps)]);
    session.model.lora.dispose();
    session.model.lora = null;
  }
  await session.close();
}
for (const [what, t] of rows) console.log(`${what.padEnd(58)} ${ms(t)}`);
await backend.destroy();
rmSync(dir, { recursive: true, force: true });
