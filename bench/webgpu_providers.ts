// The same training step on both WebGPU providers (dawn.node and webgpu.h over FFI), on the same
// adapter, in one run: the demo model (engine/demo.ts) with a LoRA on all seven projections, an
// SFT step and a Vaccine step (two passes), then AdamW. The providers take turns step by step, so
// a machine whose load changes slows both alike; median and best per provider are printed.
//   node --import tsx bench/webgpu_providers.ts [--steps 20] [--batch 2] [--length 128]
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { selectBackend } from '../bindings/select.ts';
import type { Backend } from '../engine/backend.ts';
import { randomLlamaWeights, tinyLlamaConfig } from '../engine/demo.ts';
import { Lora, loraTargetNames } from '../engine/lora.ts';
import type { Batch, CausalLM } from '../engine/model/causal_lm.ts';
import { buildModel } from '../engine/model/registry.ts';
import { AdamW } from '../engine/optim.ts';
import { Rng } from '../engine/random.ts';
import { sftStep, vaccineStep } from '../engine/vaccine.ts';

const { values } = parseArgs({ options: {
  steps: { type: 'string', default: '20' },
  batch: { type: 'string', default: '2' },
  length: { type: 'string', default: '128' },
} });
const steps = Number(values.steps), B = Number(values.batch), T = Number(values.length);
const config = tinyLlamaConfig({ maxSeqLen: Math.max(256, T) });
const rng = new Rng(5);
const ids = Int32Array.from({ length: B * T }, () => Math.floor(rng.next() * config.vocabSize));
const batch: Batch = { B, T, ids, labels: ids.slice(), lengths: new Int32Array(B).fill(T) };

interface Run { kind: 'webgpu' | 'webgpu-native'; be: Backend; model: CausalLM; opt: AdamW; sft: number[]; vaccine: number[] }

async function open(kind: Run['kind']): Promise<Run> {
  const be = await selectBackend(kind, { quiet: true });
  const model = buildModel(be, config, randomLlamaWeights(config, 43));
  model.lora = Lora.create(be, config, { r: 8, alpha: 16, dropout: 0.1, targets: loraTargetNames(config), seed: 3 });
  const opt = new AdamW(be, model.lora.modules.flatMap((m) => [{ p: m.A, g: m.dA }, { p: m.B, g: m.dB }]), { weightDecay: 0.1 });
  return { kind, be, model, opt, sft: [], vaccine: [] };
}

async function step(r: Run, method: 'sft' | 'vaccine', seed: number): Promise<number> {
  const t0 = performance.now();
  r.model.lora!.zeroGrad();
  if (method === 'sft') await sftStep(r.model, batch, { dropoutSeed: seed });
  else await vaccineStep(r.model, batch, { dropoutSeed: seed, rho: 2 });
  r.opt.step(1e-3);
  await r.be.sync();
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(`demo model (dim ${config.dim}, ${config.nLayers} layers, vocab ${config.vocabSize}), LoRA r=8 on 7 projections, batch ${B}x${T}; ${steps} steps of each, taking turns, after one warm-up`);
const runs = [await open('webgpu'), await open('webgpu-native')];
for (const r of runs) { await step(r, 'sft', 1); await step(r, 'vaccine', 2); } // pipelines, memory
for (let i = 0; i < steps; i++) {
  for (const r of runs) r.sft.push(await step(r, 'sft', 10 + i));
  for (const r of runs) r.vaccine.push(await step(r, 'vaccine', 100 + i));
}
console.log('provider        | SFT step ms: median (best) | Vaccine step ms: median (best) | adapter');
for (const r of runs) {
  console.log(`${r.kind.padEnd(15)} | ${median(r.sft).toFixed(1).padStart(12)} (${Math.min(...r.sft).toFixed(1)}) | `
    + `${median(r.vaccine).toFixed(1).padStart(16)} (${Math.min(...r.vaccine).toFixed(1)}) | ${r.be.description}`);
  r.opt.dispose();
  r.model.lora!.dispose();
  r.model.dispose();
  await r.be.destroy();
}
console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
process.exit(0);
