// The trainer every training job shares; a job differs only in its step function (sftStep,
// vaccineStep, randomVaccineStep, ...) and its data. Two layers:
//   trainLoop  the optimizer loop over any trainable tensors: micro-batches, gradient
//              accumulation, clipping, the lr schedule, the optimizer step, one StepMetrics per
//              step. It knows nothing of models, LoRA or files, so it is tested with a toy step.
//   train      a LoRA training run on a session: the adapter (new, --init-adapter, or a
//              checkpoint's), the optimizer, --resume, metrics.jsonl, checkpoints, the final
//              PEFT adapter in `out`. Everything that can be wrong is checked before `out` is
//              written.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { host } from '#host';
import { loadAdapter, saveAdapter } from '../adapter.ts';
import type { Backend } from '../backend.ts';
import { collate } from '../data.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { Lora, resolveLoraTargets, type LoraTarget } from '../lora.ts';
import type { ModelConfig } from '../model/family.ts';
import type { Batch, CausalLM } from '../model/causal_lm.ts';
import { clipGrads, createOptimizer, gradNorm, lrLambda, warmupSteps, type Optimizer, type Param } from '../optim.ts';
import { fill, scale } from '../ops/elementwise.ts';
import { phase, phaseAsync, phaseBegin, phaseEnd } from '../profile/phases.ts';
import { mixSeed } from '../random.ts';
import type { StepResult } from '../vaccine.ts';
import { examplesSha256, findCheckpoint, findResume, pruneCheckpoints, rowsSha256, restoreOptimizer, saveCheckpoint, type Fingerprint, type Resume } from './checkpoint.ts';
import type { PreparedData } from './dataset.ts';
import { asInput, asInputError, InputError } from './errors.ts';
import { describeNonFinite, metricsJson, NonFiniteError, sumOfSquares, type NonFinitePolicy } from './finite.ts';
import { checkOut, clearRun, clearTemporaries, METRICS_FILE } from './outdir.ts';
import type { Session } from './session.ts';
import { MAX_TOTAL_STEPS, type TrainValues } from './train-options.ts';

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
  /** steps so far (this one included) whose update was dropped because a value was not finite (--on-nonfinite skip) */
  skipped_nonfinite: number;
  /** only on a step whose loss, gradients or weights went non-finite: the first value found so */
  nonfinite?: string;
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

/** With --on-nonfinite skip, this many skipped steps in a row stop the run. */
export const MAX_SKIPS_IN_A_ROW = 10;

export interface LoopOptions {
  backend: Backend;
  /** the trainable tensors and their gradient buffers */
  params: Param[];
  /** the params' names in messages (default "param i") */
  names?: readonly string[];
  optimizer: Optimizer;
  /** micro-batch k (global) and the epoch it ends at (fractional: 1.5 is half-way through the second) */
  microBatch(k: number): { batch: Batch; epoch: number };
  step(batch: Batch, ctx: StepContext): Promise<StepResult>;
  lr: number; scheduler: TrainValues['scheduler']; warmup: number;
  gradAccum: number; maxGradNorm: number; seed: number;
  /** steps already done (a resumed run) and the run's total */
  startStep: number; totalSteps: number;
  /** a loss or gradient that is not finite: stop (NonFiniteError, the default) or drop that step's update */
  onNonFinite?: NonFinitePolicy;
  /** steps skipped before startStep (a resumed run's count, for the metrics) */
  skippedBefore?: number;
  /** checked before each step: once aborted, the loop returns after the step it is in */
  signal?: AbortSignal;
  /** after each optimizer step, awaited before the next */
  onStep?(m: StepMetrics): void | Promise<void>;
  /** a step that stops the run on a non-finite value, before the NonFiniteError is thrown */
  onNonFiniteStop?(m: StepMetrics): void | Promise<void>;
}

/**
 * Runs optimizer steps startStep..totalSteps-1 and returns their metrics (fewer when `signal`
 * aborts). Every step is checked for non-finite values: the loss (and a Vaccine step's perturbed
 * loss and perturbation norm) as the step returns them, the gradients through their total norm
 * (computed for clipping anyway), and the weights after the update through one more sum of
 * squares. A non-finite loss or gradient throws NonFiniteError (naming the step and the first
 * value) before the optimizer runs, or with onNonFinite 'skip' drops the step's update and counts
 * it (MAX_SKIPS_IN_A_ROW skipped steps in a row throw: the run has diverged); non-finite weights
 * after an update always throw (the update is in them: there is nothing to skip back to).
 */
export async function trainLoop(o: LoopOptions): Promise<StepMetrics[]> {
  const { backend, params, optimizer } = o;
  const grads = params.map((q) => q.g), weights = params.map((q) => q.p);
  const names = o.names ?? params.map((_, i) => `param ${i}`);
  const policy = o.onNonFinite ?? 'stop';
  const metrics: StepMetrics[] = [];
  let skipped = o.skippedBefore ?? 0, skippedInARow = 0;
  const t0 = performance.now();
  for (let k = o.startStep; k < o.totalSteps; k++) {
    // let pending signals and I/O run between steps (a WASM step may never yield to the event loop)
    await host.yieldToEventLoop();
    if (o.signal?.aborted) break;
    const ts = performance.now();
    phaseBegin('step');
    const lr = o.lr * lrLambda(o.scheduler, k, o.warmup, o.totalSteps);
    phase('zero gradients', () => { for (const g of grads) fill(g, 0); });
    let loss = 0, pLoss = 0, gNorm = 0, tokens = 0, epoch = 0;
    let res: StepResult | null = null;
    let bad: string | null = null;
    for (let a = 0; a < o.gradAccum && bad === null; a++) {
      const mb = k * o.gradAccum + a;
      const { batch, epoch: e } = o.microBatch(mb);
      epoch = e;
      for (const len of batch.lengths) tokens += len;
      res = await phaseAsync('micro-batch', () => o.step(batch, { microBatch: mb, dropoutSeed: mixSeed(o.seed, mb, 0xd5), seed: o.seed }));
      loss += res.loss / o.gradAccum;
      pLoss += (res.perturbedLoss ?? 0) / o.gradAccum;
      gNorm += (res.gradNorm ?? 0) / o.gradAccum;
      const where = o.gradAccum > 1 ? ` (micro-batch ${a + 1} of ${o.gradAccum})` : '';
      if (!Number.isFinite(res.loss)) bad = `the loss is ${res.loss}${where}`;
      else if (res.gradNorm !== null && !Number.isFinite(res.gradNorm)) bad = `the perturbation's gradient norm is ${res.gradNorm}${where}`;
      else if (res.perturbedLoss !== null && !Number.isFinite(res.perturbedLoss)) bad = `the perturbed loss is ${res.perturbedLoss}${where}`;
    }
    // HF divides each micro-batch's loss by the accumulation steps; the model's backward is per
    // micro-batch mean, so the accumulated gradients are scaled once here. (The reference Vaccine
    // trainer calls model.zero_grad() between its two passes, which with accumulation would also
    // drop earlier micro-batches' gradients; we keep them, as accumulation intends. With
    // --grad-accum 1, the reference's setting, the two agree.)
    let norm = NaN;
    if (bad === null) {
      if (o.gradAccum > 1) for (const g of grads) scale(g, g, 1 / o.gradAccum);
      norm = await phaseAsync('gradient norm', () => gradNorm(backend, grads));
      if (!Number.isFinite(norm)) bad = await describeNonFinite('the gradients', grads, names.map((n) => `${n} grad`));
    }
    const metricsOf = (nonfinite: string | null): StepMetrics => {
      const now = performance.now(), stepS = (now - ts) / 1000;
      const m: StepMetrics = {
        step: k + 1, epoch: round(epoch, 6), lr, loss,
        perturbed_loss: res!.perturbedLoss === null ? null : pLoss,
        grad_norm: res!.gradNorm === null ? null : gNorm, lora_grad_norm: norm,
        tokens, tokens_per_s: round(tokens / stepS, 2), step_s: round(stepS, 4), elapsed_s: round((now - t0) / 1000, 3),
        skipped_nonfinite: skipped,
      };
      if (nonfinite !== null) m.nonfinite = nonfinite;
      return m;
    };
    const stop = async (what: string) => {
      await o.onNonFiniteStop?.(metricsOf(what));
      throw new NonFiniteError(k + 1, what, `step ${k + 1} of ${o.totalSteps}: ${what}`);
    };
    if (bad !== null && policy === 'stop') await stop(bad);
    if (bad !== null && ++skippedInARow >= MAX_SKIPS_IN_A_ROW) {
      await stop(`${bad}, and so were the ${MAX_SKIPS_IN_A_ROW - 1} steps before: the run has diverged`);
    }
    if (bad === null) {
      // HF Trainer clips after accumulation, before the step (max_grad_norm, default 1.0)
      phase('clip gradients', () => clipGrads(grads, norm, o.maxGradNorm));
      phase('optimizer', () => optimizer.step(lr));
      const w = await phaseAsync('weights check', () => sumOfSquares(backend, weights));
      if (!Number.isFinite(w)) await stop(await describeNonFinite('the updated weights', weights, names));
      skippedInARow = 0;
    } else {
      skipped++;
    }
    await phaseAsync('sync', () => backend.sync());
    phaseEnd('step');
    const m = metricsOf(bad);
    metrics.push(m);
    await o.onStep?.(m);
  }
  return metrics;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// ---- the pieces of a LoRA run that need no files (train() and the web page share them) ----------

/** The settings a LoRA run's adapter and loop read. */
export type LoraRunSettings = Pick<TrainValues, 'epochs' | 'maxSteps' | 'gradAccum' | 'lr' | 'weightDecay' | 'warmupRatio'
  | 'scheduler' | 'optimizer' | 'maxGradNorm' | 'loraR' | 'loraAlpha' | 'loraDropout' | 'loraTargets' | 'seed' | 'onNonFinite'>;

/** A new adapter as a run with these settings starts it (targets: the resolved --lora-targets). */
export function newLora(backend: Backend, config: ModelConfig, o: Pick<LoraRunSettings, 'loraR' | 'loraAlpha' | 'loraDropout' | 'seed'>, targets: LoraTarget[]): Lora {
  return Lora.create(backend, config, { r: o.loraR, alpha: o.loraAlpha, dropout: o.loraDropout, targets, seed: o.seed });
}

/** An adapter's tensors as the optimizer trains them, and their names in messages. */
export function loraParams(lora: Lora): { params: Param[]; names: string[] } {
  return {
    params: lora.modules.flatMap((m) => [{ p: m.A, g: m.dA }, { p: m.B, g: m.dB }]),
    names: lora.modules.flatMap((m) => [`layers.${m.layer}.${m.target}.lora_A`, `layers.${m.layer}.${m.target}.lora_B`]),
  };
}

/**
 * trainLoop over prepared data: micro-batch k is the data order's k-th, collated, run through
 * `step` on `model` (whose adapter the params are).
 */
export function runLoraSteps(o: {
  model: CausalLM; data: PreparedData; step: StepFunction; settings: LoraRunSettings;
  params: Param[]; names: string[]; optimizer: Optimizer; totalSteps: number;
  startStep?: number; skippedBefore?: number; signal?: AbortSignal;
  onStep?(m: StepMetrics): void | Promise<void>; onNonFiniteStop?(m: StepMetrics): void | Promise<void>;
}): Promise<StepMetrics[]> {
  const { model, data, settings: s } = o;
  const bpe = data.order.batchesPerEpoch;
  return trainLoop({
    backend: model.backend, params: o.params, names: o.names, optimizer: o.optimizer, lr: s.lr, scheduler: s.scheduler,
    warmup: warmupFor(s, o.totalSteps), gradAccum: s.gradAccum, maxGradNorm: s.maxGradNorm, seed: s.seed,
    startStep: o.startStep ?? 0, totalSteps: o.totalSteps, onNonFinite: s.onNonFinite, skippedBefore: o.skippedBefore, signal: o.signal,
    microBatch: (mb) => {
      const { epoch, indices } = data.order.microBatch(mb);
      return { batch: collate(Array.from(indices, (i) => data.examples[i]), data.padId), epoch: epoch + (mb % bpe + 1) / bpe };
    },
    step: (batch, ctx) => o.step(model, batch, ctx),
    onStep: o.onStep, onNonFiniteStop: o.onNonFiniteStop,
  });
}

/** A run with no files: the adapter (attached to the model; the caller owns it) and each step's metrics. */
export interface InMemoryResult { lora: Lora; metrics: StepMetrics[]; totalSteps: number }

/**
 * Trains a new adapter on `model` (attached to it when this returns) with no files: no --out,
 * checkpoints or metrics.jsonl. The same adapter, optimizer and loop as train() (which adds its
 * files around them), so the same settings give the same steps. The web page runs this.
 */
export async function trainInMemory(job: { model: CausalLM; data: PreparedData; step: StepFunction; settings: LoraRunSettings },
  cb: { onStep?(m: StepMetrics, totalSteps: number): void | Promise<void>; signal?: AbortSignal } = {}): Promise<InMemoryResult> {
  const { model, data, settings: o } = job;
  const totalSteps = totalStepsFor(o, data.order.batchesPerEpoch);
  if (totalSteps > MAX_TOTAL_STEPS) throw new InputError(`${totalSteps} optimizer steps is beyond the limit of ${MAX_TOTAL_STEPS}`);
  const lora = await asInput(() => newLora(model.backend, model.config, o, resolveLoraTargets(o.loraTargets, model.config)));
  let optimizer: Optimizer | null = null;
  try {
    const { params, names } = loraParams(lora);
    optimizer = createOptimizer(o.optimizer, model.backend, params, o.weightDecay);
    model.lora = lora;
    const metrics = await runLoraSteps({
      model, data, step: job.step, settings: o, params, names, optimizer, totalSteps, signal: cb.signal,
      onStep: (m) => cb.onStep?.(m, totalSteps),
    });
    return { lora, metrics, totalSteps };
  } catch (e) {
    if (model.lora === lora) model.lora = null;
    lora.dispose();
    throw e;
  } finally {
    optimizer?.dispose();
  }
}

// ---- a LoRA training run on a session -------------------------------------------------------------

export interface TrainStartInfo {
  /** the job's name for what it trains (align: its method) */
  method: string; backend: string; model: string; examples: number; batchesPerEpoch: number;
  totalSteps: number; warmupSteps: number; startStep: number; trainableParams: number; out: string;
}

/** A run stopped by TrainCallbacks.signal: the steps done and the checkpoint that holds them. */
export interface Interrupted {
  /** optimizer steps done (a resumed run: counted from 0) */
  step: number; totalSteps: number;
  /** the checkpoint to resume from (null: no step was done, nothing was written) */
  checkpoint: string | null;
  /** the run had finished all its steps when it stopped: the adapter is saved */
  finished: boolean;
}

export interface TrainCallbacks {
  onStart?(info: TrainStartInfo): void;
  onStep?(m: StepMetrics, totalSteps: number): void;
  onLog?(message: string): void;
  onCheckpoint?(dir: string, step: number): void;
  /** the run stopped early on `signal` (after its checkpoint was written) */
  onInterrupted?(info: Interrupted): void;
  /**
   * When it aborts (the command lines abort it on SIGINT and SIGTERM), the run finishes the step
   * it is in, writes a checkpoint (whatever --save-every is) and returns with `interrupted` set.
   */
  signal?: AbortSignal;
}

export interface TrainResult {
  out: string; steps: number; totalSteps: number; metrics: StepMetrics[]; resumedFrom: number | null;
  /** steps whose update was dropped for a non-finite value (--on-nonfinite skip), over the whole run */
  skippedNonFinite: number;
  /** set when the run stopped early on TrainCallbacks.signal */
  interrupted: Interrupted | null;
}

/** The options train() reads (a job's normalized options carry them all). */
export type TrainSettings = Pick<TrainValues, 'epochs' | 'maxSteps' | 'gradAccum' | 'lr' | 'weightDecay' | 'warmupRatio'
  | 'scheduler' | 'optimizer' | 'maxGradNorm' | 'loraR' | 'loraAlpha' | 'loraDropout' | 'loraTargets' | 'seed'
  | 'initAdapter' | 'saveEvery' | 'saveTotalLimit' | 'resume' | 'overwrite' | 'onNonFinite'> & { out: string };

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
 *
 * A step whose loss, gradients or updated weights are not finite stops the run with a
 * NonFiniteError (or, --on-nonfinite skip, drops that step's update); no adapter or checkpoint
 * with a non-finite value is ever written, so the last good checkpoint stays the latest.
 */
export async function train(job: TrainJob, cb: TrainCallbacks = {}): Promise<TrainResult> {
  const { session, data, settings: o } = job;
  const { backend, config } = session;
  const model = session.model;
  const log = (msg: string) => cb.onLog?.(msg);
  const totalSteps = totalStepsFor(o, data.order.batchesPerEpoch);
  if (totalSteps > MAX_TOTAL_STEPS) {
    throw new InputError(`${o.maxSteps !== null ? `--max-steps ${o.maxSteps}` : `--epochs ${o.epochs} (${data.order.batchesPerEpoch} batches per epoch)`}`
      + ` makes ${totalSteps} optimizer steps, beyond the limit of ${MAX_TOTAL_STEPS}`);
  }
  const warmup = warmupFor(o, totalSteps);
  const targets = resolveLoraTargets(o.loraTargets, config);
  const fp: Fingerprint = {
    ...session.modelFingerprint, data_sha256: rowsSha256(data.rows), tokens_sha256: examplesSha256(data.examples), ...job.fingerprint,
    // the targets trained, whether named or 'all' (as checkpoints have always recorded them)
    ...('lora_targets' in job.fingerprint ? { lora_targets: targets } : {}),
    examples: data.rows.length, total_steps: totalSteps,
  };
  let lora: Lora | null = null;
  let optimizer: Optimizer | null = null;
  try {
    // ---- everything that can be wrong with the input, before anything is written ----
    checkOut(o.out, o);
    const resume: Resume | null = findResume(o.out, o.resume, fp, log);
    const adapterDir = resume?.dir ?? o.initAdapter;
    lora = adapterDir
      ? await asInput(() => loadAdapter(backend, config, adapterDir, { dropout: o.loraDropout, seed: o.seed }))
      // a target this model's family lacks is the user's input error
      : await asInput(() => newLora(backend, config, o, targets));
    const { params, names } = loraParams(lora);
    optimizer = createOptimizer(o.optimizer, backend, params, o.weightDecay);
    const startStep = resume?.state.step ?? 0;
    const skippedBefore = resume?.state.skipped_nonfinite ?? 0;
    if (resume) {
      restoreOptimizer(backend, optimizer, resume);
      log(`resuming from ${resume.dir} (step ${startStep} of ${totalSteps})`);
    }
    if (cb.signal?.aborted) {
      const info: Interrupted = { step: startStep, totalSteps, checkpoint: resume?.dir ?? null, finished: false };
      cb.onInterrupted?.(info);
      return { out: o.out, steps: 0, totalSteps, metrics: [], resumedFrom: resume ? startStep : null, skippedNonFinite: skippedBefore, interrupted: info };
    }

    // ---- training: from here on, `out` is written ----
    if (o.overwrite) {
      const gone = clearRun(o.out);
      if (gone.length > 0) log(`starting afresh: removed the earlier run's ${gone.join(', ')} from ${o.out}`);
    }
    const created = !existsSync(o.out);
    mkdirSync(o.out, { recursive: true });
    clearTemporaries(o.out);
    const metricsPath = join(o.out, METRICS_FILE);
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
    const weights = params.map((q) => q.p);
    // Every save goes through here: the weights are checked on the device first, so that no
    // non-finite adapter is ever written (the loop checks each step too; this is the last guard).
    const guard = async (step: number, what: string) => {
      const w = await sumOfSquares(backend, weights);
      if (!Number.isFinite(w)) {
        const first = await describeNonFinite('the weights', weights, names);
        throw new NonFiniteError(step, first, `step ${step}: refusing to save ${what}: ${first}`);
      }
    };
    let skipped = skippedBefore, doneSteps = startStep;
    const checkpoint = async (step: number): Promise<string> => {
      await guard(step, 'a checkpoint');
      const dir = await saveCheckpoint(o.out, step, trained, config, opt, fp, skipped);
      cb.onCheckpoint?.(dir, step);
      for (const gone of pruneCheckpoints(o.out, o.saveTotalLimit)) log(`--save-total-limit ${o.saveTotalLimit}: removed ${gone}`);
      return dir;
    };
    const appendMetrics = (m: StepMetrics) => appendFileSync(metricsPath, metricsJson(m) + '\n');
    let metrics: StepMetrics[];
    try {
      metrics = await runLoraSteps({
        model, data, step: job.step, settings: o, params, names, optimizer, totalSteps, startStep, skippedBefore, signal: cb.signal,
        onStep: async (m) => {
          doneSteps = m.step;
          skipped = m.skipped_nonfinite;
          appendMetrics(m);
          if (m.nonfinite) log(`step ${m.step}: ${m.nonfinite}; --on-nonfinite skip: the step's update was dropped (${m.skipped_nonfinite} so far)`);
          cb.onStep?.(m, totalSteps);
          if (o.saveEvery > 0 && m.step % o.saveEvery === 0 && m.step < totalSteps) await checkpoint(m.step);
        },
        onNonFiniteStop: (m) => { appendMetrics(m); cb.onStep?.(m, totalSteps); },
      });
    } catch (e) {
      if (e instanceof NonFiniteError) {
        const last = findCheckpoint(o.out);
        throw new NonFiniteError(e.step, e.what, `${e.message}. The run is stopped and no adapter was written; `
          + `${last ? `the last good checkpoint is ${last.dir}` : 'there is no checkpoint (--save-every N writes them)'}. `
          + (e.what.startsWith('the updated weights') || o.onNonFinite === 'skip' ? 'Lower --lr.' : 'Lower --lr, or pass --on-nonfinite skip to drop such steps.'));
      }
      if (e instanceof InputError) throw e;
      // any other failure during training (a device lost, out of memory, a kernel error): say
      // where the run stopped and what is kept; the original error stays as the cause
      const last = findCheckpoint(o.out);
      throw new Error(`at step ${doneSteps + 1} of ${totalSteps}: ${(e as Error).message}. The run is stopped and no adapter was written; `
        + (last ? `the last checkpoint is ${last.dir} (--resume continues from it)` : 'there is no checkpoint (--save-every N writes them)'), { cause: e });
    }
    const done = startStep + metrics.length;
    if (done < totalSteps) {
      // stopped by the signal: keep the steps done in a checkpoint (unless it exists already)
      const have = findCheckpoint(o.out);
      const dir = done === 0 ? null : have?.step === done ? have.dir : await checkpoint(done);
      if (done === 0) {
        // stopped before the first step: leave `out` as it was
        rmSync(metricsPath, { force: true });
        if (created) rmSync(o.out, { recursive: true, force: true });
      }
      const info: Interrupted = { step: done, totalSteps, checkpoint: dir, finished: false };
      cb.onInterrupted?.(info);
      return { out: o.out, steps: metrics.length, totalSteps, metrics, resumedFrom: resume ? startStep : null, skippedNonFinite: skipped, interrupted: info };
    }
    await guard(totalSteps, 'the adapter');
    await saveAdapter(o.out, lora, config);
    let interrupted: Interrupted | null = null;
    if (cb.signal?.aborted) {
      interrupted = { step: totalSteps, totalSteps, checkpoint: null, finished: true };
      cb.onInterrupted?.(interrupted);
    }
    return { out: o.out, steps: totalSteps - startStep, totalSteps, metrics, resumedFrom: resume ? startStep : null, skippedNonFinite: skipped, interrupted };
  } catch (e) {
    throw asInputError(e);
  } finally {
    optimizer?.dispose();
    if (model.lora === lora) model.lora = null;
    lora?.dispose();
  }
}
