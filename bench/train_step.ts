// Training-step throughput: forward + backward into the LoRA weights (base frozen) and one AdamW
// update, for a plain SFT step and a Vaccine step (two passes), on the chosen backends, with
// PyTorch (CPU, same shapes, same threads) in the same run for the ratio.
//
//   node --import tsx bench/train_step.ts [--config small|stories15m] [--steps 3] [--backends wasm,webgpu,webgpu-native] [--profile]
// (--backends: kinds of bindings/registry.ts; webgpu,webgpu-native times the same step on both WebGPU providers)
// --profile: time per kernel, summed by name: GPU timestamps on WebGPU (quantization off), wall
// clock per call on WASM (kernels run synchronously there).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import type { Backend } from '../engine/backend.ts';
import { Lora, loraTargetNames } from '../engine/lora.ts';
import { selectBackend, type BackendKind } from '../bindings/select.ts';
import { randomLlamaWeights } from '../engine/demo.ts';
import type { Batch } from '../engine/model/causal_lm.ts';
import type { LlamaConfig } from '../engine/model/llama/config.ts';
import { LlamaModel } from '../engine/model/llama/model.ts';
import { adamwStep } from '../engine/ops/adamw.ts';
import { scaleByInverseNorm } from '../engine/ops/elementwise.ts';
import { sumSquares } from '../engine/ops/sum_squares.ts';
import { Rng } from '../engine/random.ts';
import { Tensor } from '../engine/tensor.ts';

const CONFIGS = {
  // about the golden fixture's shape, scaled up a little: fast anywhere, lavapipe included
  small: { dim: 64, hiddenDim: 172, nLayers: 2, nHeads: 8, nKvHeads: 4, vocabSize: 512, B: 2, T: 64 },
  // llama2.c's stories15M shape (dim 288, 6 layers, 6 heads, vocab 32000)
  stories15m: { dim: 288, hiddenDim: 768, nLayers: 6, nHeads: 6, nKvHeads: 6, vocabSize: 32000, B: 4, T: 128 },
} as const;

const { values } = parseArgs({ options: {
  config: { type: 'string', default: 'small' },
  steps: { type: 'string', default: '3' },
  backends: { type: 'string', default: 'wasm' },
  threads: { type: 'string', default: '1,2' },
  profile: { type: 'boolean', default: false },
} });
const shape = CONFIGS[values.config as keyof typeof CONFIGS];
if (!shape) throw new Error(`unknown --config ${values.config} (small, stories15m)`);
const steps = Number(values.steps);
const r = 8;

const config: LlamaConfig = {
  family: 'llama', vocabSize: shape.vocabSize, dim: shape.dim, hiddenDim: shape.hiddenDim, nLayers: shape.nLayers,
  nHeads: shape.nHeads, nKvHeads: shape.nKvHeads, headDim: shape.dim / shape.nHeads, maxSeqLen: shape.T,
  ropeTheta: 10000, normEps: 1e-5, ropeInterleaved: false, tiedEmbeddings: false, attentionBias: false,
  bosId: 1, eosId: 2, source: 'hf', namePath: `bench:${values.config}`,
};

function randomBatch(): Batch {
  const rng = new Rng(2);
  const { B, T } = shape;
  const ids = Int32Array.from({ length: B * T }, () => Math.floor(rng.next() * config.vocabSize));
  return { B, T, ids, labels: ids.slice(), lengths: new Int32Array(B).fill(T) };
}

async function timeSteps(backend: Backend): Promise<{ sftMs: number; vaccineMs: number }> {
  const model = LlamaModel.fromHost(backend, config, randomLlamaWeights(config, 1));
  model.lora = Lora.create(backend, config, { r, alpha: 16, dropout: 0, targets: loraTargetNames(config), seed: 3 });
  const batch = randomBatch();
  const m = model.lora.modules.flatMap((mod) => [[mod.A, mod.dA], [mod.B, mod.dB]] as const)
    .map(([p, g]) => ({ p, g, m: Tensor.zeros(backend, p.shape), v: Tensor.zeros(backend, p.shape) }));
  const update = (t: number) => {
    for (const s of m) adamwStep(s.p, s.g, s.m, s.v, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: t });
    model.lora!.zeroGrad();
  };
  const sft = async (t: number) => {
    const tape = model.forward(batch);
    await model.loss(tape);
    model.backward(tape);
    model.disposeTape(tape);
    update(t);
    await backend.sync();
  };
  const vaccine = async (t: number) => {
    const tape = model.forward(batch);
    await model.loss(tape);
    const { attnOutGrads } = model.backward(tape, { loraGrads: false, attnOutGrads: true });
    model.disposeTape(tape);
    const s = Tensor.zeros(backend, [1]);
    sumSquares(s, ...attnOutGrads!);
    for (const g of attnOutGrads!) scaleByInverseNorm(g, g, s, 2, 1e-7);
    const tape2 = model.forward(batch, { perturbations: attnOutGrads! });
    await model.loss(tape2);
    model.backward(tape2);
    model.disposeTape(tape2);
    for (const g of attnOutGrads!) g.dispose();
    s.dispose();
    update(t);
    await backend.sync();
  };
  await sft(1); await vaccine(2); // warm-up (pipelines, memory growth)
  let t0 = performance.now();
  for (let i = 0; i < steps; i++) await sft(3 + i);
  const sftMs = (performance.now() - t0) / steps;
  t0 = performance.now();
  for (let i = 0; i < steps; i++) await vaccine(3 + steps + i);
  const vaccineMs = (performance.now() - t0) / steps;
  for (const s of m) { s.m.dispose(); s.v.dispose(); }
  model.lora.dispose();
  model.dispose();
  return { sftMs, vaccineMs };
}

function torchStep(threads: number): number | null {
  if (!existsSync('/usr/bin/python3')) return null;
  const cfg = {
    hidden_size: config.dim, intermediate_size: config.hiddenDim, vocab_size: config.vocabSize,
    num_hidden_layers: config.nLayers, num_attention_heads: config.nHeads, num_key_value_heads: config.nKvHeads,
    head_dim: config.headDim, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, r, B: shape.B, T: shape.T,
  };
  try {
    const out = execFileSync('/usr/bin/python3', [new URL('./torch_train_step.py', import.meta.url).pathname, JSON.stringify(cfg), String(threads), String(steps)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return JSON.parse(out.trim().split('\n').pop()!).sft_ms;
  } catch { return null; }
}

const tokens = shape.B * shape.T;
console.log(`train step: config ${values.config} (dim ${config.dim}, ${config.nLayers} layers, vocab ${config.vocabSize}, LoRA r=${r} on 7 projections), batch ${shape.B}x${shape.T} = ${tokens} tokens`);
console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; ${steps} timed steps after one warm-up`);
console.log('backend                         | SFT step ms | tokens/s | Vaccine step ms | Vaccine/SFT | PyTorch SFT ms | engine/PyTorch time');
for (const kind of values.backends!.split(',')) {
  const threadList = kind === 'wasm' ? values.threads!.split(',').map(Number) : [0];
  for (const threads of threadList) {
    let backend: Backend;
    if (kind === 'wasm') backend = await (await import('../bindings/wasm/backend.ts')).createWasmBackend({ threads, timing: values.profile });
    else backend = await selectBackend(kind as BackendKind, { quiet: true, timing: values.profile });
    const { sftMs, vaccineMs } = await timeSteps(backend);
    const torchMs = kind === 'wasm' ? torchStep(threads) : null;
    const label = kind === 'wasm' ? `wasm, ${threads} thread(s)` : `${kind} (${backend.description})`;
    console.log(`${label.padEnd(31)} | ${sftMs.toFixed(1).padStart(11)} | ${(tokens / (sftMs / 1000)).toFixed(0).padStart(8)} | ${vaccineMs.toFixed(1).padStart(15)} | ${(vaccineMs / sftMs).toFixed(2).padStart(11)} | ${torchMs === null ? '          n/a' : torchMs.toFixed(1).padStart(14)} | ${torchMs === null ? 'n/a' : (sftMs / torchMs).toFixed(2) + 'x'}`);
    const times = (backend as { kernelTimes?: () => Map<string, { count: number; ms: number }> }).kernelTimes?.();
    if (values.profile && times && times.size > 0) {
      const rows = [...times].sort((a, b) => b[1].ms - a[1].ms);
      const total = rows.reduce((s, [, t]) => s + t.ms, 0);
      console.log(`  ${kind === 'wasm' ? 'wall-clock' : 'GPU'} time per kernel over all steps (warm-up included), total ${total.toFixed(1)} ms:`);
      for (const [name, t] of rows) console.log(`    ${name.padEnd(28)} ${t.ms.toFixed(2).padStart(10)} ms  ${String(t.count).padStart(6)} dispatches  ${(100 * t.ms / total).toFixed(1).padStart(5)}%`);
    }
    await backend.destroy();
  }
}
process.exit(0);
