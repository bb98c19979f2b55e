// The trainer every training job shares; a job differs only in its step function (sftStep,
// vaccineStep, randomVaccineStep, ...) and its data. Two layers:
//   trainLoop  the optimizer loop over any trainable tensors: micro-batches, gradient
//              accumulation, clipping, the lr schedule, the optimizer step, one StepMetrics per
//              step. It knows nothing of models, LoRA or files, so it is tested with a toy step.
//   train      a LoRA training run on a session: the adapter (new, --init-adapter, or a
//              checkpoint's), the optimizer, --resume, metrics.jsonl, checkpoints, the final
//              PEFT adapter in `out`. Everything that can be wrong is checked before `out` is
//              written.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAdapter, saveAdapter } from '../adapter.ts';
import type { Backend } from '../backend.ts';
import { collate } from '../data.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { Lora, resolveLoraTargets } from '../lora.ts';
import type { Batch, CausalLM } from '../model/causal_lm.ts';
import { clipGradNorm, createOptimizer, lrLambda, warmupSteps, type Optimizer, type Param } from '../optim.ts';
import { fill, scale } from '../ops/elementwise.ts';
import { mixSeed } from '../random.ts';
import type { StepResult } from '../vaccine.ts';
import { findResume, rowsSha256, restoreOptimizer, saveCheckpoint, type Fingerprint, type Resume } from './checkpoint.ts';
import type { PreparedData } from './dataset.ts';
import { asInput, asInputError } from './errors.ts';
import type { Session } from './session.ts';
import type { TrainValues } from './train-options.ts';

/** What a step function is told about the micro-batch it runs. */
export interface StepContext {
  /** global micro-batch index, 0-based, counting across accumulation and epochs */
  microBatch: number;
  /** the LoRA dropout seed of this micro-batch: mixSeed(seed, microBatch, 0xd5) */
  dropoutSeed: number;
  /** the run's --seed (for a step's own draws, e.g. random-Vaccine's noise: mixSeed(seed, microBatch, tag)) */
  seed: number;
}

/**
 * One micro-batch's forward and backward: it adds the trainable gradients into their buffers
 * (the trainer zeroes them before each optimizer step) and returns the losses.
 */
export type StepFunction = (model: CausalLM, batch: Batch, ctx: StepContext) => Promise<StepResult>;

/** One line of metrics.jsonl. */
export interface StepMetrics {
  step: number; epoch: number; lr: number; loss: number;
  perturbed_loss: number | null; grad_norm: number | null;
  /** the trainable gradients' total L2 norm before clipping */
  lora_grad_norm: number;
  tokens: number; tokens_per_s: number; step_s: number; elapsed_s: number;
}

/** Total optimizer steps, as HF Trainer counts them: ceil(epochs * max(1, floor(batches/accum))). */
export function totalStepsFor(o: { maxSteps: number | null; epochs: number; gradAccum: number }, batchesPerEpoch: number): number {
  if (o.maxSteps !== null) return o.maxSteps;
  return Math.ceil(o.epochs * Math.max(1, Math.floor(batchesPerEpoch / o.gradAccum)));
}

/** Warmup steps of a schedule: HF's constant schedule has none, whatever the ratio. */
export function warmupFor(o: { scheduler: TrainValues['scheduler']; warmupRatio: number }, totalSteps: number): number {
  return o.scheduler === 'constant' ? 0 : warmupSteps(o.warmupRatio, totalSteps);
}

export interface LoopOptions {
  backend: Backend;
  /** the trainable tensors and their gradient buffers */
  params: Param[];
  optimizer: Optimizer;
  /** micro-batch k (global) and the epoch it ends at (fractional: 1.5 is half-way through the second) */
  microBatch(k: number): { batch: Batch; epoch: number };
  step(batch: Batch, ctx: StepContext): Promise<StepResult>;
  lr: number; scheduler: TrainValues['scheduler']; warmup: number;
  gradAccum: number; maxGradNorm: number; seed: number;
  /** steps already done (a resumed run) and the run's total */
  startStep: number; totalSteps: number;
  /** after each optimizer step, awaited before the next */
  onStep?(m: StepMetrics): void | Promise<void>;
}

/** Runs optimizer steps startStep..totalSteps-1 and returns their metrics. */
export async function trainLoop(o: LoopOptions): Promise<StepMetrics[]> {
  const { backend, params, optimizer } = o;
  const grads = params.map((q) => q.g);
  const metrics: StepMetrics[] = [];
  const t0 = performance.now();
  for (let k = o.startStep; k < o.totalSteps; k++) {
    const ts = performance.now();
    const lr = o.lr * lrLambda(o.scheduler, k, o.warmup, o.totalSteps);
    for (const g of grads) fill(g, 0);
    let loss = 0, pLoss = 0, gNorm = 0, tokens = 0, epoch = 0;
    let res: StepResult | null = null;
    for (let a = 0; a < o.gradAccum; a++) {
      const mb = k * o.gradAccum + a;
      const { batch, epoch: e } = o.microBatch(mb);
      epoch = e;
      for (const len of batch.lengths) tokens += len;
      res = await o.step(batch, { microBatch: mb, dropoutSeed: mixSeed(o.seed, mb, 0xd5), seed: o.seed });
      loss += res.loss / o.gradAccum;
      pLoss += (res.perturbedLoss ?? 0) / o.gradAccum;
      gNorm += (res.gradNorm ?? 0) / o.gradAccum;
    }
    // HF divides each micro-batch's loss by the accumulation steps; the model's backward is per
    // micro-batch mean, so the accumulated gradients are scaled once here. (The reference Vaccine
    // trainer calls model.zero_grad() between its two passes, which with accumulation would also
    // drop earlier micro-batches' gradients; we keep them, as accumulation intends. With
    // --grad-accum 1, the reference's setting, the two agree.)
    if (o.gradAccum > 1) for (const g of grads) scale(g, g, 1 / o.gradAccum);
    // HF Trainer clips after accumulation, before the step (max_grad_norm, default 1.0)
    const gradNorm = await clipGradNorm(backend, grads, o.maxGradNorm);
    optimizer.step(lr);
    await backend.sync();
    const now = performance.now();
    const stepS = (now - ts) / 1000;
    const m: StepMetrics = {
      step: k + 1, epoch: round(epoch, 6), lr, loss,
      perturbed_loss: res!.perturbedLoss === null ? null : pLoss,
      grad_norm: res!.gradNorm === null ? null : gNorm, lora_grad_norm: gradNorm,
      tokens, tokens_per_s: round(tokens / stepS, 2), step_s: round(stepS, 4), elapsed_s: round((now - t0) / 1000, 3),
    };
    metrics.push(m);
    await o.onStep?.(m);
  }
  return metrics;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// ---- a LoRA training run on a session -------------------------------------------------------------

export interface TrainStartInfo {
  /** the job's name for what it trains (align: its method) */
  method: string; backend: string; model: string; examples: number; batchesPerEpoch: number;
  totalSteps: number; warmupSteps: number; startStep: number; trainableParams: number; out: string;
}

export interface TrainCallbacks {
  onStart?(info: TrainStartInfo): void;
  onStep?(m: StepMetrics, totalSteps: number): void;
  onLog?(message: string): void;
  onCheckpoint?(dir: string, step: number): void;
}

export interface TrainResult { out: string; steps: number; totalSteps: number; metrics: StepMetrics[]; resumedFrom: number | null }

/** The options train() reads (a job's normalized options carry them all). */
export type TrainSettings = Pick<TrainValues, 'epochs' | 'maxSteps' | 'gradAccum' | 'lr' | 'weightDecay' | 'warmupRatio'
  | 'scheduler' | 'optimizer' | 'maxGradNorm' | 'loraR' | 'loraAlpha' | 'loraDropout' | 'loraTargets' | 'seed'
  | 'initAdapter' | 'saveEvery' | 'resume'> & { out: string };

export interface TrainJob {
  /** the model to train an adapter on: its base weights as the job wants them (Session.setMerged) */
  session: Session;
  data: PreparedData;
  step: StepFunction;
  settings: TrainSettings;
  /** the job's options that decide the run (fingerprintOf its table); train adds the model's, the data's and the step count */
  fingerprint: Fingerprint;
  /** shown in onStart (align: the method) */
  method: string;
}

/**
 * Trains a new LoRA adapter (or continues --init-adapter's, or a checkpoint's with --resume) on
 * the session's model and saves it with metrics.jsonl in settings.out. The adapter is detached
 * and freed afterwards; the session's model is left as it was handed.
 */
export async function train(job: TrainJob, cb: TrainCallbacks = {}): Promise<TrainResult> {
  const { session, data, settings: o } = job;
  const { backend, config } = session;
  const model = session.model;
  const log = (msg: string) => cb.onLog?.(msg);
  const totalSteps = totalStepsFor(o, data.order.batchesPerEpoch);
  const warmup = warmupFor(o, totalSteps);
  const targets = resolveLoraTargets(o.loraTargets, config);
  const fp: Fingerprint = {
    ...session.modelFingerprint, data_sha256: rowsSha256(data.rows), ...job.fingerprint,
    // the targets trained, whether named or 'all' (as checkpoints have always recorded them)
    ...('lora_targets' in job.fingerprint ? { lora_targets: targets } : {}),
    examples: data.rows.length, total_steps: totalSteps,
  };
  let lora: Lora | null = null;
  let optimizer: Optimizer | null = null;
  try {
    // ---- everything that can be wrong with the input, before anything is written ----
    const resume: Resume | null = findResume(o.out, o.resume, fp, log);
    const adapterDir = resume?.dir ?? o.initAdapter;
    lora = adapterDir
      ? await asInput(() => loadAdapter(backend, config, adapterDir, { dropout: o.loraDropout, seed: o.seed }))
      // a target this model's family lacks is the user's input error
      : await asInput(() => Lora.create(backend, config, { r: o.loraR, alpha: o.loraAlpha, dropout: o.loraDropout, targets, seed: o.seed }));
    const params: Param[] = lora.modules.flatMap((m) => [{ p: m.A, g: m.dA }, { p: m.B, g: m.dB }]);
    optimizer = createOptimizer(o.optimizer, backend, params, o.weightDecay);
    const startStep = resume?.state.step ?? 0;
    if (resume) {
      restoreOptimizer(backend, optimizer, resume);
      log(`resuming from ${resume.dir} (step ${startStep} of ${totalSteps})`);
    }

    // ---- training: from here on, `out` is written ----
    mkdirSync(o.out, { recursive: true });
    const metricsPath = join(o.out, 'metrics.jsonl');
    const kept = startStep > 0 && existsSync(metricsPath)
      ? readFileSync(metricsPath, 'utf8').split('\n').filter(Boolean).slice(0, startStep).map((l) => l + '\n').join('')
      : '';
    writeFileAtomic(metricsPath, kept);

    cb.onStart?.({
      method: job.method, backend: backend.description, model: config.namePath, examples: data.examples.length,
      batchesPerEpoch: data.order.batchesPerEpoch, totalSteps, warmupSteps: warmup, startStep,
      trainableParams: params.reduce((s, q) => s + q.p.size, 0), out: o.out,
    });

    model.lora = lora;
    const trained = lora, opt = optimizer;
    const bpe = data.order.batchesPerEpoch;
    const metrics = await trainLoop({
      backend, params, optimizer, lr: o.lr, scheduler: o.scheduler, warmup, gradAccum: o.gradAccum,
      maxGradNorm: o.maxGradNorm, seed: o.seed, startStep, totalSteps,
      microBatch: (mb) => {
        const { epoch, indices } = data.order.microBatch(mb);
        return { batch: collate(Array.from(indices, (i) => data.examples[i]), data.padId), epoch: epoch + (mb % bpe + 1) / bpe };
      },
      step: (batch, ctx) => job.step(model, batch, ctx),
      onStep: async (m) => {
        appendFileSync(metricsPath, JSON.stringify(m) + '\n');
        cb.onStep?.(m, totalSteps);
        if (o.saveEvery > 0 && m.step % o.saveEvery === 0 && m.step < totalSteps) {
          const dir = await saveCheckpoint(o.out, m.step, trained, config, opt, fp);
          cb.onCheckpoint?.(dir, m.step);
        }
      },
    });
    await saveAdapter(o.out, lora, config);
    return { out: o.out, steps: totalSteps - startStep, totalSteps, metrics, resumedFrom: resume ? startStep : null };
  } catch (e) {
    throw asInputError(e);
  } finally {
    optimizer?.dispose();
    if (model.lora === lora) model.lora = null;
    lora?.dispose();
  }
}
