// One training step of each method, timed the way `align` runs it: the trainer's loop
// (engine/jobs/trainer.ts: zero the gradients, the method's step function, clip to norm 1, AdamW,
// sync) with align's step functions, on a random-weight model of a shape, LoRA r 8 on the seven
// projections. SFT and Vaccine steps alternate (one warm-up each first), so that a busy machine
// slows both alike. Per step: wall time, backend allocations, the high-water mark of bytes in use.
//
// Run in a child process per (shape, backend, threads), so that each starts with fresh memory and
// its peak RSS is its own:  node --import tsx bench/lib/steps.ts '<StepSpec as JSON>'
// It prints one JSON line (StepResult).
import { pathToFileURL } from 'node:url';
import type { BackendKind } from '../../bindings/registry.ts';
import { selectBackend } from '../../bindings/select.ts';
import { randomLlamaWeights } from '../../engine/demo.ts';
import { alignStep, type AlignMethod } from '../../engine/jobs/align.ts';
import { trainLoop } from '../../engine/jobs/trainer.ts';
import { Lora, loraTargetNames } from '../../engine/lora.ts';
import { buildModel } from '../../engine/model/registry.ts';
import { createOptimizer, type Param } from '../../engine/optim.ts';
import { Profiler } from '../../engine/profile/profiler.ts';
import { Counters } from './counters.ts';
import { batchStats, benchBatch, llamaConfig, shapeLabel, SHAPES, type BatchSpec } from './shapes.ts';

export interface StepSpec extends BatchSpec {
  shape: string;
  backend: Exclude<BackendKind, 'auto'>;
  threads: number;
  steps: number;
  warmup: number;
  loraR: number;
  loraAlpha: number;
  loraDropout: number;
  rho: number;
  seed: number;
  /** where to write a trace of every step (engine/profile), its per-kernel table on stderr; none when absent */
  profile?: string;
}

export interface MethodResult {
  ms: number[];
  medianMs: number;
  minMs: number;
  /** backend alloc/free calls per timed step (mean) */
  allocsPerStep: number;
  freesPerStep: number;
  /** WebGPU createBuffer calls per timed step (null on WASM) */
  deviceBuffersPerStep: number | null;
  /** highest bytes in use during the timed steps (weights, adapter and optimizer state included) */
  peakBytes: number;
  /** losses of the warm-up step (the first, unperturbed loss; Vaccine's perturbed loss) */
  firstLoss: number;
  firstPerturbedLoss: number | null;
}

export interface StepResult {
  spec: StepSpec;
  backend: string;
  batch: { B: number; T: number; tokens: number; lossTokens: number; source: string };
  /** bytes in use before the first step: weights, adapter, optimizer state */
  baseBytes: number;
  sft: MethodResult;
  vaccine: MethodResult;
  /** the child's peak resident set (it ran both methods) */
  maxRssBytes: number;
  seconds: number;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export async function measureSteps(spec: StepSpec): Promise<StepResult> {
  const t0 = performance.now();
  const shape = SHAPES[spec.shape];
  const config = llamaConfig(shape);
  const { batch, source } = benchBatch(shape, spec);
  const real = await selectBackend(spec.backend, { quiet: true, threads: spec.threads });
  const profiler = spec.profile ? new Profiler(spec.profile) : null;
  const counters = new Counters(profiler ? profiler.attach(real) : real);
  const backend = counters.backend;
  try {
    const model = buildModel(backend, config, randomLlamaWeights(config, spec.seed));
    const lora = Lora.create(backend, config, {
      r: spec.loraR, alpha: spec.loraAlpha, dropout: spec.loraDropout, targets: loraTargetNames(config), seed: spec.seed,
    });
    model.lora = lora;
    const params: Param[] = lora.modules.flatMap((m) => [{ p: m.A, g: m.dA }, { p: m.B, g: m.dB }]);
    const optimizer = createOptimizer('adamw', backend, params, 0.1);
    const baseBytes = real.bytesInUse();
    const steps: Record<AlignMethod, ReturnType<typeof alignStep>> = {
      sft: alignStep('sft', spec.rho), vaccine: alignStep('vaccine', spec.rho), 'random-vaccine': alignStep('random-vaccine', spec.rho),
    };
    let k = 0;
    const one = async (method: 'sft' | 'vaccine') => {
      const c0 = counters.snapshot();
      counters.resetPeak();
      const ts = performance.now();
      const [m] = await trainLoop({
        backend, params, optimizer, microBatch: () => ({ batch, epoch: 0 }),
        step: (b, ctx) => steps[method](model, b, ctx),
        lr: 1e-3, scheduler: 'constant', warmup: 0, gradAccum: 1, maxGradNorm: 1, seed: spec.seed,
        startStep: k, totalSteps: k + 1,
      });
      k++;
      return { ms: performance.now() - ts, counts: counters.since(c0), peak: counters.peakBytes, loss: m.loss, perturbed: m.perturbed_loss };
    };
    type Run = Awaited<ReturnType<typeof one>>;
    const runs: Record<'sft' | 'vaccine', Run[]> = { sft: [], vaccine: [] };
    const first: Partial<Record<'sft' | 'vaccine', Run>> = {};
    for (let i = 0; i < spec.warmup; i++) {
      for (const m of ['sft', 'vaccine'] as const) { const r = await one(m); first[m] ??= r; }
    }
    for (let i = 0; i < spec.steps; i++) {
      // alternate which method goes first, so neither always follows the other
      for (const m of (i % 2 ? ['vaccine', 'sft'] : ['sft', 'vaccine']) as ('sft' | 'vaccine')[]) {
        const r = await one(m);
        first[m] ??= r;
        runs[m].push(r);
      }
    }
    const summarize = (m: 'sft' | 'vaccine'): MethodResult => {
      const rs = runs[m], ms = rs.map((r) => r.ms), n = Math.max(1, rs.length);
      return {
        ms, medianMs: median(ms), minMs: Math.min(...ms),
        allocsPerStep: rs.reduce((s, r) => s + r.counts.allocs, 0) / n,
        freesPerStep: rs.reduce((s, r) => s + r.counts.frees, 0) / n,
        deviceBuffersPerStep: counters.countsDeviceBuffers ? rs.reduce((s, r) => s + r.counts.deviceBuffers, 0) / n : null,
        peakBytes: Math.max(...rs.map((r) => r.peak)),
        firstLoss: first[m]!.loss, firstPerturbedLoss: first[m]!.perturbed,
      };
    };
    const result: StepResult = {
      spec, backend: real.description, batch: { B: batch.B, T: batch.T, ...batchStats(batch), source }, baseBytes,
      sft: summarize('sft'), vaccine: summarize('vaccine'),
      maxRssBytes: process.resourceUsage().maxRSS * 1024, seconds: (performance.now() - t0) / 1000,
    };
    if (profiler) {
      const p = await profiler.finish({ shape: spec.shape, threads: spec.threads });
      process.stderr.write(`bench: ${shapeLabel(shape)}: trace ${p.path}\n${p.report}\n`);
    }
    optimizer.dispose();
    model.lora = null;
    lora.dispose();
    model.dispose();
    return result;
  } finally {
    profiler?.stop();
    await real.destroy();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const spec = JSON.parse(process.argv[2]) as StepSpec;
  const r = await measureSteps(spec);
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}
