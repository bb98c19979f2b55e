// Generation throughput with the KV cache: the same prompts decoded one at a time and as batches
// (engine/model/generate.ts), greedy, on the chosen backends. Prints new tokens per second and
// the ratio; checks that both give the same tokens.
//
//   node --import tsx bench/generate.ts [--model stories260k|stories15m] [--prompts 32] [--new 32]
//     [--batch 1,8,32] [--backends wasm,webgpu] [--threads 2]
// stories260k is ../shared/data's checkpoint (real weights); stories15m is llama2.c's stories15M
// shape (dim 288, 6 layers, vocab 32000) with random weights.
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createWasmBackend } from '../bindings/wasm/backend.ts';
import type { Backend } from '../engine/backend.ts';
import { randomLlamaWeights, tinyLlamaConfig } from '../engine/demo.ts';
import type { HostWeights, ModelConfig } from '../engine/model/family.ts';
import { generate } from '../engine/model/generate.ts';
import { loadModel } from '../engine/model/load.ts';
import { buildModel } from '../engine/model/registry.ts';
import { Rng } from '../engine/random.ts';
import { sharedData } from './lib/shapes.ts';

const { values } = parseArgs({ options: {
  model: { type: 'string', default: 'stories260k' },
  prompts: { type: 'string', default: '32' },
  new: { type: 'string', default: '32' },
  batch: { type: 'string', default: '1,8,32' },
  backends: { type: 'string', default: 'wasm' },
  threads: { type: 'string', default: '2' },
} });

const DATA = sharedData();
let host: { config: ModelConfig; weights: HostWeights };
if (values.model === 'stories260k') {
  const path = join(DATA, 'models', 'stories260K', 'stories260K.bin');
  if (!existsSync(path)) throw new Error(`${path} not found`);
  host = loadModel(path);
} else if (values.model === 'stories15m') {
  const config = tinyLlamaConfig({ vocabSize: 32000, dim: 288, hiddenDim: 768, nLayers: 6, nHeads: 6, nKvHeads: 6, headDim: 48,
    maxSeqLen: 256, bosId: 1, eosId: 2, namePath: 'bench:stories15m-shape' });
  host = { config, weights: randomLlamaWeights(config, 1) };
} else {
  throw new Error(`unknown --model ${values.model} (stories260k, stories15m)`);
}

const nPrompts = Number(values.prompts), maxNewTokens = Number(values.new);
const rng = new Rng(5);
// prompts of 4..24 tokens: BOS then random ids
const prompts = Array.from({ length: nPrompts }, () => {
  const n = 4 + Math.floor(rng.next() * 21);
  return [host.config.bosId, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(rng.next() * (host.config.vocabSize - 3)))];
});

async function backendFor(kind: string): Promise<Backend> {
  if (kind === 'wasm') return createWasmBackend({ threads: Number(values.threads) });
  const { createWebGPUBackend } = await import('../bindings/webgpu/backend.ts');
  return createWebGPUBackend({ quiet: true });
}

console.log(`model ${values.model} (${host.config.nLayers} layers, dim ${host.config.dim}, vocab ${host.config.vocabSize}); `
  + `${nPrompts} prompts of 4..24 tokens, ${maxNewTokens} new tokens each, greedy; ${cpus()[0]?.model ?? 'cpu'}`);
for (const kind of values.backends.split(',')) {
  const be = await backendFor(kind);
  const model = buildModel(be, host.config, host.weights);
  await generate(model, prompts.slice(0, 2), { maxNewTokens: 2 }); // warm-up (pipelines, memory growth)
  let reference: number[][] | null = null;
  let baseline = 0;
  for (const batchSize of values.batch.split(',').map(Number)) {
    const t0 = performance.now();
    const out = await generate(model, prompts, { maxNewTokens, batchSize });
    const s = (performance.now() - t0) / 1000;
    const tokens = out.reduce((a, o) => a + o.length, 0);
    const rate = tokens / s;
    if (reference === null) { reference = out; baseline = rate; }
    const same = JSON.stringify(out) === JSON.stringify(reference);
    console.log(`${be.description}  batch ${String(batchSize).padStart(3)}: ${rate.toFixed(1).padStart(8)} new tokens/s `
      + `(${s.toFixed(2)} s)  x${(rate / baseline).toFixed(2)} vs batch ${values.batch.split(',')[0]}  ${same ? 'same tokens' : 'TOKENS DIFFER'}`);
  }
  model.dispose();
  await be.destroy();
}
process.exit(0);
