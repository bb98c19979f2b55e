// SFT and Vaccine steps as the align job runs them (sftStep / vaccineStep, gradient clipping,
// AdamW), on real alignment batches: 5 rows of safety_refusals.jsonl per step, max length 200,
// LoRA r 8 on the seven projections, at the three llama2.c shapes. It reports the median step
// time, the backend's peak memory (bytes held by live buffers) and the buffer allocations per
// step after the warm-up, for each method in its own fresh backend. On a shared machine the CPU
// time of the process (all threads) is the steadier figure: it is printed beside the wall clock.
//   node --import tsx bench/align_step.ts [--shape 260k|15m|110m] [--steps 6] [--warmup 2]
//        [--threads 2] [--dropout 0.1] [--methods sft,vaccine] [--json]
// 260k is the real stories260K checkpoint (tok512); 15m and 110m are random weights of those
// shapes over the Llama 2 tokenizer (32,000 words), as PyTorch's side would use.
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Backend, BufferHandle, DType } from '../engine/backend.ts';
import { collate, encodeExample, readRows } from '../engine/data.ts';
import { randomLlamaWeights, tinyLlamaConfig } from '../engine/demo.ts';
import { Lora, loraTargetNames } from '../engine/lora.ts';
import type { Batch } from '../engine/model/causal_lm.ts';
import type { HostWeights, ModelConfig } from '../engine/model/family.ts';
import { loadModel } from '../engine/model/load.ts';
import { buildModel } from '../engine/model/registry.ts';
import { clipGradNorm, createOptimizer } from '../engine/optim.ts';
import { fill } from '../engine/ops/elementwise.ts';
import { loadTokenizer } from '../engine/tokenizer/load.ts';
import { sftStep, vaccineStep } from '../engine/vaccine.ts';

const { values } = parseArgs({ options: {
  shape: { type: 'string', default: '15m' }, steps: { type: 'string', default: '6' }, warmup: { type: 'string', default: '2' },
  threads: { type: 'string', default: '2' }, dropout: { type: 'string', default: '0.1' }, methods: { type: 'string', default: 'sft,vaccine' },
  json: { type: 'boolean', default: false },
} });
const DATA = process.env.VACCINE_SHARED_DATA ?? new URL('../../shared/data', import.meta.url).pathname;
const shape = values.shape!;
let config: ModelConfig, weights: HostWeights, tokPath: string;
if (shape === '260k') {
  const p = join(DATA, 'models/stories260K/stories260K.bin');
  ({ config, weights } = loadModel(p));
  tokPath = join(DATA, 'models/stories260K/tok512.bin');
} else if (shape === '15m' || shape === '110m') {
  const [dim, hidden, layers] = shape === '15m' ? [288, 768, 6] : [768, 2048, 12];
  const c = tinyLlamaConfig({ vocabSize: 32000, dim, hiddenDim: hidden, nLayers: layers, nHeads: dim / 48 | 0, nKvHeads: dim / 48 | 0,
    headDim: 48, maxSeqLen: 256, tiedEmbeddings: false, bosId: 1, eosId: 2, namePath: `bench:stories${shape}` });
  if (shape === '110m') Object.assign(c, { nHeads: 12, nKvHeads: 12, headDim: 64 });
  config = c;
  weights = randomLlamaWeights(c, 1);
  tokPath = join(DATA, 'tokenizers/llama2/tokenizer.model');
} else throw new Error(`--shape: 260k, 15m or 110m, got ${shape}`);
if (!existsSync(tokPath)) { console.log(`shared data not found under ${DATA}: nothing to run`); process.exit(0); }
const tok = loadTokenizer(tokPath);
const rows = readRows(join(DATA, 'alignment/safety_refusals.jsonl'));
const steps = Number(values.steps), warmup = Number(values.warmup), threads = Number(values.threads);
const batches: Batch[] = [];
for (let s = 0; s < steps + warmup; s++) {
  const ex = rows.slice(5 * s, 5 * s + 5).map((r) => encodeExample(r, (t) => tok.encode(t, { bos: true }), config.eosId, 200));
  batches.push(collate(ex, config.eosId));
}

/** Counts allocations and tracks the peak of live bytes, by wrapping the backend's alloc/free. */
function instrument(be: Backend) {
  const sizes = new Map<BufferHandle, number>();
  const st = { allocs: 0, live: 0, peak: 0 };
  const alloc = be.alloc.bind(be), free = be.free.bind(be);
  be.alloc = (dtype: DType, size: number, ...rest: unknown[]) => {
    const b = (alloc as (...a: unknown[]) => BufferHandle)(dtype, size, ...rest);
    st.allocs++; sizes.set(b, b.bytes); st.live += b.bytes; st.peak = Math.max(st.peak, st.live);
    return b;
  };
  be.free = (b: BufferHandle) => { st.live -= sizes.get(b) ?? 0; sizes.delete(b); free(b); };
  return st;
}

async function run(method: string) {
  const { createWasmBackend } = await import('../bindings/wasm/backend.ts');
  const be = await createWasmBackend({ threads });
  const st = instrument(be);
  const model = buildModel(be, config, weights);
  const lora = Lora.create(be, config, { r: 8, alpha: 16, dropout: Number(values.dropout), targets: loraTargetNames(config), seed: 3 });
  model.lora = lora;
  const params = lora.modules.flatMap((m) => [{ p: m.A, g: m.dA }, { p: m.B, g: m.dB }]);
  const opt = createOptimizer('adamw', be, params, 0);
  const base = st.live;
  st.peak = st.live;
  const times: number[] = [], cpu: number[] = [], allocs: number[] = [];
  let loss = 0;
  for (let s = 0; s < batches.length; s++) {
    const a0 = st.allocs, t0 = performance.now(), c0 = process.cpuUsage();
    for (const q of params) fill(q.g, 0);
    const res = method === 'sft' ? await sftStep(model, batches[s], { dropoutSeed: s }) : await vaccineStep(model, batches[s], { rho: 2, dropoutSeed: s });
    await clipGradNorm(be, params.map((q) => q.g), 1);
    opt.step(1e-3);
    await be.sync();
    if (s >= warmup) {
      times.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
      allocs.push(st.allocs - a0);
    }
    loss += res.loss;
  }
  times.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const out = { method, medianMs: times[times.length >> 1], minMs: times[0], cpuMs: cpu[cpu.length >> 1], peakMiB: (st.peak - base) / 2 ** 20, allocsPerStep: allocs, meanLoss: loss / batches.length };
  opt.dispose(); model.lora = null; lora.dispose(); model.dispose();
  await be.destroy();
  return out;
}

const tokens = batches.slice(warmup).map((b) => b.B * b.T);
console.log(`align step: shape ${shape} (dim ${config.dim}, ${config.nLayers} layers, vocab ${config.vocabSize}), batch 5 x <=200, r 8 x 7 targets, dropout ${values.dropout}; `
  + `wasm ${threads} threads; ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}; load ${loadavg()[0].toFixed(1)}; mean rows ${(tokens.reduce((a, b) => a + b, 0) / tokens.length).toFixed(0)}`);
const results = [];
for (const m of values.methods!.split(',')) {
  const r = await run(m);
  results.push(r);
  console.log(`${m.padEnd(8)} median ${r.medianMs.toFixed(1)} ms (min ${r.minMs.toFixed(1)}), cpu ${r.cpuMs.toFixed(0)} ms (all threads), peak ${r.peakMiB.toFixed(1)} MiB over the weights, allocations/step ${r.allocsPerStep.join(',')}, mean loss ${r.meanLoss.toFixed(5)}`);
}
if (results.length === 2) {
  console.log(`vaccine/sft: time ${(results[1].medianMs / results[0].medianMs).toFixed(2)}, cpu ${(results[1].cpuMs / results[0].cpuMs).toFixed(2)}, peak memory ${(results[1].peakMiB / results[0].peakMiB).toFixed(3)}; load ${loadavg()[0].toFixed(1)}`);
}
if (values.json) console.log(JSON.stringify({ shape, threads, results }));
process.exit(0);
