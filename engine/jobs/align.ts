// The alignment job: trains a LoRA adapter on a base model with SFT, Vaccine or random Vaccine and
// saves it in PEFT's format. `node runtime/align.js` is a thin command line over `align()`; other
// Node tools call `align()` directly and follow progress through callbacks.
//
// Everything that can be wrong with the input (options, data, model, adapters) is checked before
// anything is written to `out`, and every file written there goes through a temporary name, so a
// failed run leaves no half-written files.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AdapterError, loadAdapter, saveAdapter } from '../adapter.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import type { Backend } from '../backend.ts';
import { BatchOrder, collate, DataError, encodeExample, parseRows, readRows, type Example, type TextRow } from '../data.ts';
import { readSafetensors, writeSafetensors } from '../io/safetensors.ts';
import { LORA_TARGETS, Lora, parseTargets, type LoraTarget } from '../lora.ts';
import type { HostTensor, HostWeights, LlamaConfig } from '../model/config.ts';
import { LlamaModel } from '../model/llama.ts';
import { loadModel } from '../model/load.ts';
import { clipGradNorm, createOptimizer, lrLambda, warmupSteps, type OptimizerKind, type Param, type SchedulerKind } from '../optim.ts';
import { mixSeed } from '../random.ts';
import { Tensor } from '../tensor.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { randomVaccineStep, sftStep, vaccineStep, type StepResult } from '../vaccine.ts';
import { resolveBackend, resolveTokenizer, type BackendKind } from './resolve.ts';
import { isSoftwareRenderer } from '../../bindings/select.ts';

export type AlignMethod = 'sft' | 'vaccine' | 'random-vaccine';
export const ALIGN_METHODS: readonly AlignMethod[] = ['sft', 'vaccine', 'random-vaccine'];
export const SCHEDULERS: readonly SchedulerKind[] = ['cosine', 'linear', 'constant'];
export const OPTIMIZERS: readonly OptimizerKind[] = ['adamw', 'sgd'];
export const BACKENDS: readonly BackendKind[] = ['auto', 'webgpu', 'wasm'];

export interface AlignOptions {
  /** a Hugging Face directory or a llama2.c .bin, or an already loaded model */
  model: string | { config: LlamaConfig; weights: HostWeights };
  /** default: the tokenizer found beside the model */
  tokenizer?: string | Tokenizer;
  /** a JSON array / JSONL file, or rows in memory */
  data: string | Record<string, unknown>[];
  out: string;
  method: AlignMethod;
  rho: number;
  epochs: number;
  /** overrides epochs when set */
  maxSteps: number | null;
  batchSize: number;
  gradAccum: number;
  lr: number;
  weightDecay: number;
  warmupRatio: number;
  scheduler: SchedulerKind;
  optimizer: OptimizerKind;
  loraR: number;
  loraAlpha: number;
  loraDropout: number;
  loraTargets: string | LoraTarget[];
  maxLength: number;
  seed: number;
  shuffle: boolean;
  initAdapter: string | null;
  mergeAdapter: string | null;
  /** a kind, or a backend the caller owns (it is not destroyed) */
  backend: BackendKind | Backend;
  /** WASM worker threads, 1..64 (default: the machine's cores) */
  threads?: number;
  /** clip the LoRA gradients to this total L2 norm before each optimizer step (0: no clipping) */
  maxGradNorm: number;
  /** storage of the frozen projection weights: 'f16' needs WebGPU with shader-f16 (compute stays f32) */
  weights: 'f32' | 'f16';
  /** save a checkpoint every N optimizer steps (0: never) */
  saveEvery: number;
  /** continue from the latest checkpoint in `out` */
  resume: boolean;
}

export const ALIGN_DEFAULTS = {
  method: 'vaccine' as AlignMethod, rho: 2, epochs: 1, maxSteps: null as number | null, batchSize: 5, gradAccum: 1,
  lr: 1e-3, weightDecay: 0.1, warmupRatio: 0.1, maxGradNorm: 1.0, scheduler: 'cosine' as SchedulerKind, optimizer: 'adamw' as OptimizerKind,
  loraR: 8, loraAlpha: 4, loraDropout: 0.1, loraTargets: LORA_TARGETS.join(','), maxLength: 200, seed: 43, shuffle: true,
  initAdapter: null as string | null, mergeAdapter: null as string | null, backend: 'auto' as BackendKind,
  weights: 'f32' as 'f32' | 'f16', saveEvery: 0, resume: false,
};

/** Bad input (options, data, model, adapter): the command line prints the message and exits with 2. */
export class AlignInputError extends Error {
  readonly exitCode = 2;
  constructor(message: string) { super(message); this.name = 'AlignInputError'; }
}

export interface AlignStartInfo {
  method: AlignMethod; backend: string; model: string; examples: number; batchesPerEpoch: number;
  totalSteps: number; warmupSteps: number; startStep: number; trainableParams: number; out: string;
}

/** One line of metrics.jsonl. */
export interface StepMetrics {
  step: number; epoch: number; lr: number; loss: number;
  perturbed_loss: number | null; grad_norm: number | null;
  /** the LoRA gradients' total L2 norm before clipping */
  lora_grad_norm: number;
  tokens: number; tokens_per_s: number; step_s: number; elapsed_s: number;
}

export interface AlignCallbacks {
  onStart?(info: AlignStartInfo): void;
  onStep?(m: StepMetrics, totalSteps: number): void;
  onLog?(message: string): void;
  onCheckpoint?(dir: string, step: number): void;
}

export interface AlignResult { out: string; steps: number; totalSteps: number; metrics: StepMetrics[]; resumedFrom: number | null }

const CHECKPOINT_RE = /^checkpoint-(\d+)$/;

/** Validates and completes options; throws AlignInputError naming the bad option. */
export function normalizeOptions(input: Partial<AlignOptions>): AlignOptions & { targets: LoraTarget[] } {
  const o = { ...ALIGN_DEFAULTS, ...stripUndefined(input) } as AlignOptions;
  const bad = (msg: string): never => { throw new AlignInputError(msg); };
  if (!o.model) bad('no model given (--model PATH)');
  if (!o.data) bad('no data given (--data PATH)');
  if (!o.out) bad('no output directory given (--out DIR)');
  if (!ALIGN_METHODS.includes(o.method)) bad(`unknown method '${o.method}' (one of ${ALIGN_METHODS.join(', ')})`);
  if (!SCHEDULERS.includes(o.scheduler)) bad(`unknown scheduler '${o.scheduler}' (one of ${SCHEDULERS.join(', ')})`);
  if (!OPTIMIZERS.includes(o.optimizer)) bad(`unknown optimizer '${o.optimizer}' (one of ${OPTIMIZERS.join(', ')})`);
  if (typeof o.backend === 'string' && !BACKENDS.includes(o.backend)) bad(`unknown backend '${o.backend}' (one of ${BACKENDS.join(', ')})`);
  if (o.weights !== 'f32' && o.weights !== 'f16') bad(`--weights must be f32 or f16, got '${o.weights}'`);
  if (o.weights === 'f16' && o.mergeAdapter) bad('--merge-adapter needs f32 weights (merging into f16-stored weights is not supported)');
  const num = (name: string, v: number, ok: boolean, what: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok) bad(`--${name} must be ${what}, got ${v}`);
  };
  const int = (v: number) => Number.isInteger(v);
  num('rho', o.rho, o.rho >= 0, 'a number >= 0');
  num('epochs', o.epochs, o.epochs > 0, 'a number > 0');
  if (o.maxSteps !== null) num('max-steps', o.maxSteps, int(o.maxSteps) && o.maxSteps >= 0, 'an integer >= 0');
  num('batch-size', o.batchSize, int(o.batchSize) && o.batchSize >= 1, 'an integer >= 1');
  num('grad-accum', o.gradAccum, int(o.gradAccum) && o.gradAccum >= 1, 'an integer >= 1');
  num('lr', o.lr, o.lr >= 0, 'a number >= 0');
  num('weight-decay', o.weightDecay, o.weightDecay >= 0, 'a number >= 0');
  num('max-grad-norm', o.maxGradNorm, o.maxGradNorm >= 0, 'a number >= 0 (0: no clipping)');
  if (o.threads !== undefined) num('threads', o.threads, int(o.threads) && o.threads >= 1 && o.threads <= 64, 'an integer in 1..64');
  num('warmup-ratio', o.warmupRatio, o.warmupRatio >= 0 && o.warmupRatio <= 1, 'a number in [0, 1]');
  num('lora-r', o.loraR, int(o.loraR) && o.loraR >= 1, 'an integer >= 1');
  num('lora-alpha', o.loraAlpha, o.loraAlpha > 0, 'a number > 0');
  num('lora-dropout', o.loraDropout, o.loraDropout >= 0 && o.loraDropout < 1, 'a number in [0, 1)');
  num('max-length', o.maxLength, int(o.maxLength) && o.maxLength >= 2, 'an integer >= 2');
  num('seed', o.seed, int(o.seed) && o.seed >= 0, 'an integer >= 0');
  num('save-every', o.saveEvery, int(o.saveEvery) && o.saveEvery >= 0, 'an integer >= 0');
  let targets: LoraTarget[] = [];
  try {
    targets = typeof o.loraTargets === 'string' ? parseTargets(o.loraTargets) : parseTargets(o.loraTargets.join(','));
  } catch (e) { bad((e as Error).message); }
  for (const [name, dir] of [['init-adapter', o.initAdapter], ['merge-adapter', o.mergeAdapter]] as const) {
    if (dir && !existsSync(dir)) bad(`--${name}: adapter directory not found: ${dir}`);
  }
  if (typeof o.model === 'string' && !existsSync(o.model)) bad(`model not found: ${o.model}`);
  if (typeof o.model !== 'string' && typeof o.tokenizer !== 'object') bad('a model given in memory needs its tokenizer object (options.tokenizer)');
  if (typeof o.tokenizer === 'string' && !existsSync(o.tokenizer)) bad(`tokenizer not found: ${o.tokenizer}`);
  if (typeof o.data === 'string' && !existsSync(o.data)) bad(`data file not found: ${o.data}`);
  return { ...o, targets };
}

/** The object without its undefined entries, so that they do not override defaults when spread. */
export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Runs fn, turning the errors that mean "your input is wrong" into AlignInputError. */
async function asInput<T>(fn: () => T | Promise<T>): Promise<T> {
  try { return await fn(); } catch (e) {
    if (e instanceof AlignInputError) throw e;
    throw new AlignInputError((e as Error).message);
  }
}

export interface PreparedData { rows: TextRow[]; examples: Example[]; order: BatchOrder; padId: number }

/** Reads and encodes the data; a bad row, an empty file or a too large batch is an AlignInputError. */
export function prepareData(data: AlignOptions['data'], tokenizer: Tokenizer, config: LlamaConfig,
  o: { maxLength: number; batchSize: number; seed: number; shuffle: boolean }): PreparedData {
  try {
    const rows = typeof data === 'string' ? readRows(data) : parseRows(JSON.stringify(data), '<rows>');
    const eos = tokenizer.eosId >= 0 ? tokenizer.eosId : config.eosId;
    const encode = (t: string) => tokenizer.encode(t, { bos: true });
    const maxLength = Math.min(o.maxLength, config.maxSeqLen);
    const examples = rows.map((r) => encodeExample(r, encode, eos, maxLength));
    for (const ex of examples) {
      for (const id of ex.ids) {
        if (id >= config.vocabSize) throw new DataError(`token id ${id} from the tokenizer is outside the model's vocabulary (${config.vocabSize}): wrong --tokenizer?`);
      }
    }
    const order = new BatchOrder(examples.length, o.batchSize, o.seed, o.shuffle);
    return { rows, examples, order, padId: eos };
  } catch (e) {
    if (e instanceof DataError) throw new AlignInputError(e.message);
    throw e;
  }
}

/** Total optimizer steps, as HF Trainer counts them: ceil(epochs * max(1, floor(batches/accum))). */
export function totalStepsFor(o: { maxSteps: number | null; epochs: number; gradAccum: number }, batchesPerEpoch: number): number {
  if (o.maxSteps !== null) return o.maxSteps;
  return Math.ceil(o.epochs * Math.max(1, Math.floor(batchesPerEpoch / o.gradAccum)));
}

/**
 * What must match for --resume to continue a run exactly: the settings, the model (path, bytes on
 * disk, config) and the data (a sha256 of the parsed rows, so a different file with the same row
 * count is caught).
 */
function fingerprint(o: AlignOptions & { targets: LoraTarget[] }, modelPath: string | null, config: LlamaConfig,
  rows: TextRow[], totalSteps: number): Record<string, unknown> {
  const { namePath: _name, ...shape } = config;
  const dataHash = createHash('sha256');
  for (const r of rows) dataHash.update(JSON.stringify([r.instruction, r.input, r.output]) + '\n');
  return {
    model: modelPath ?? '<in memory>', model_bytes: modelPath === null ? null : bytesOnDisk(modelPath),
    model_config: shape, data_sha256: dataHash.digest('hex'), weights: o.weights, max_grad_norm: o.maxGradNorm,
    method: o.method, rho: o.rho, batch_size: o.batchSize, grad_accum: o.gradAccum, lr: o.lr, weight_decay: o.weightDecay,
    warmup_ratio: o.warmupRatio, scheduler: o.scheduler, optimizer: o.optimizer, lora_dropout: o.loraDropout,
    lora_r: o.loraR, lora_alpha: o.loraAlpha, lora_targets: o.targets, merge_adapter: o.mergeAdapter,
    max_length: o.maxLength, seed: o.seed, shuffle: o.shuffle, examples: rows.length, total_steps: totalSteps,
  };
}

/** A file's size, or the total size of the files directly in a directory (a HF model directory). */
function bytesOnDisk(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const name of readdirSync(path).sort()) {
    const f = statSync(join(path, name));
    if (f.isFile()) n += f.size;
  }
  return n;
}

/** The latest complete checkpoint in `out`, if any. */
export function findCheckpoint(out: string): { dir: string; step: number } | null {
  if (!existsSync(out)) return null;
  let best: { dir: string; step: number } | null = null;
  for (const name of readdirSync(out)) {
    const m = CHECKPOINT_RE.exec(name);
    if (!m) continue;
    const dir = join(out, name);
    if (!existsSync(join(dir, 'trainer_state.json'))) continue;
    const step = Number(m[1]);
    if (!best || step > best.step) best = { dir, step };
  }
  return best;
}

export async function align(input: Partial<AlignOptions>, cb: AlignCallbacks = {}): Promise<AlignResult> {
  const o = normalizeOptions(input);
  const log = (msg: string) => cb.onLog?.(msg);

  // ---- everything that can be wrong with the input, before anything is written ----
  // `host` is the only reference this job keeps to the host copy of the weights; it is dropped
  // right after the upload so that copy (as large as the model) can be collected during training.
  let host: { config: LlamaConfig; weights: HostWeights } | null =
    await asInput(() => typeof o.model === 'string' ? loadModel(o.model) : o.model as { config: LlamaConfig; weights: HostWeights });
  const config = host.config;
  const modelPath = typeof o.model === 'string' ? o.model : null;
  o.model = modelPath ?? '<in memory>'; // o must not keep a caller's in-memory weights alive either
  const tokenizer = typeof o.tokenizer === 'object' ? o.tokenizer
    : await asInput(() => resolveTokenizer(modelPath!, o.tokenizer as string | undefined));
  const data = prepareData(o.data, tokenizer, config, o);
  const totalSteps = totalStepsFor(o, data.order.batchesPerEpoch);
  // HF's constant schedule has no warmup: the ratio does not apply to it
  const warmup = o.scheduler === 'constant' ? 0 : warmupSteps(o.warmupRatio, totalSteps);
  if (o.maxLength > config.maxSeqLen) log(`max length ${o.maxLength} is beyond the model's ${config.maxSeqLen}; truncating to ${config.maxSeqLen}`);

  const ownsBackend = typeof o.backend === 'string';
  const backend = typeof o.backend === 'string' ? await resolveBackend(o.backend, o.threads, log) : o.backend;
  if (backend.name === 'webgpu' && isSoftwareRenderer(backend.description)) {
    log(`note: the WebGPU adapter is a CPU software renderer (${backend.description}); --backend wasm is usually much faster here`);
  }
  let model: LlamaModel | null = null;
  let lora: Lora | null = null;
  let optimizer: ReturnType<typeof createOptimizer> | null = null;
  try {
    try {
      model = LlamaModel.fromHost(backend, config, host.weights, { weightDtype: o.weights });
    } catch (e) {
      throw new AlignInputError((e as Error).message);
    } finally {
      host = null;
    }
    if (o.mergeAdapter) {
      const merged = await asInput(() => loadAdapter(backend, config, o.mergeAdapter!, { dropout: 0 }));
      model.mergeLora(merged);
      merged.dispose();
      log(`merged adapter ${o.mergeAdapter} into the base weights`);
    }

    const ckpt = o.resume ? findCheckpoint(o.out) : null;
    if (o.resume && !ckpt) log(`--resume: no checkpoint in ${o.out}; starting from step 0`);
    const fp = fingerprint(o, modelPath, config, data.rows, totalSteps);
    let state: { step: number; optimizer_step_count: number; fingerprint: Record<string, unknown> } | null = null;
    if (ckpt) {
      state = JSON.parse(readFileSync(join(ckpt.dir, 'trainer_state.json'), 'utf8'));
      const diff = Object.keys(fp).filter((k) => JSON.stringify(fp[k]) !== JSON.stringify(state!.fingerprint[k]));
      if (diff.length > 0) {
        throw new AlignInputError(`--resume: ${ckpt.dir} was written with different settings (${diff.map((k) => `${k}: ${JSON.stringify(state!.fingerprint[k])} vs ${JSON.stringify(fp[k])}`).join('; ')})`);
      }
    }
    const adapterDir = ckpt?.dir ?? o.initAdapter;
    lora = adapterDir
      ? await asInput(() => loadAdapter(backend, config, adapterDir, { dropout: o.loraDropout, seed: o.seed }))
      : Lora.create(backend, config, { r: o.loraR, alpha: o.loraAlpha, dropout: o.loraDropout, targets: o.targets, seed: o.seed });
    model.lora = lora;
    const params: Param[] = lora.modules.flatMap((m) => [{ p: m.A, g: m.dA }, { p: m.B, g: m.dB }]);
    optimizer = createOptimizer(o.optimizer, backend, params, o.weightDecay);
    let startStep = 0;
    if (ckpt && state) {
      startStep = state.step;
      optimizer.stepCount = state.optimizer_step_count;
      const moments = optimizer.stateTensors();
      if (moments.size > 0) {
        const saved = readSafetensors(join(ckpt.dir, 'optimizer.safetensors')).tensors;
        for (const [name, t] of moments) {
          const s = saved.get(name);
          if (!s || s.data.length !== t.size) throw new AlignInputError(`--resume: ${ckpt.dir}/optimizer.safetensors lacks ${name} or has the wrong size`);
          backend.write(t.buf, s.data);
        }
      }
      log(`resuming from ${ckpt.dir} (step ${startStep} of ${totalSteps})`);
    }

    // ---- training: from here on, `out` is written ----
    mkdirSync(o.out, { recursive: true });
    const metricsPath = join(o.out, 'metrics.jsonl');
    const kept = startStep > 0 && existsSync(metricsPath)
      ? readFileSync(metricsPath, 'utf8').split('\n').filter(Boolean).slice(0, startStep).map((l) => l + '\n').join('')
      : '';
    writeFileAtomic(metricsPath, kept);

    cb.onStart?.({
      method: o.method, backend: backend.description, model: config.namePath, examples: data.examples.length,
      batchesPerEpoch: data.order.batchesPerEpoch, totalSteps, warmupSteps: warmup, startStep,
      trainableParams: params.reduce((s, q) => s + q.p.size, 0), out: o.out,
    });

    const grads = params.map((q) => q.g);
    const metrics: StepMetrics[] = [];
    const t0 = performance.now();
    for (let k = startStep; k < totalSteps; k++) {
      const ts = performance.now();
      const lr = o.lr * lrLambda(o.scheduler, k, warmup, totalSteps);
      lora.zeroGrad();
      let loss = 0, pLoss = 0, gNorm = 0, tokens = 0, epoch = 0;
      let res: StepResult | null = null;
      for (let a = 0; a < o.gradAccum; a++) {
        const mb = k * o.gradAccum + a;
        const { epoch: e, indices } = data.order.microBatch(mb);
        epoch = e + (mb % data.order.batchesPerEpoch + 1) / data.order.batchesPerEpoch;
        const batch = collate(Array.from(indices, (i) => data.examples[i]), data.padId);
        for (const len of batch.lengths) tokens += len;
        const dropoutSeed = mixSeed(o.seed, mb, 0xd5);
        res = o.method === 'sft' ? await sftStep(model, batch, { dropoutSeed })
          : o.method === 'vaccine' ? await vaccineStep(model, batch, { dropoutSeed, rho: o.rho })
            : await randomVaccineStep(model, batch, { dropoutSeed, rho: o.rho, noiseSeed: mixSeed(o.seed, mb, 0x4e) });
        loss += res.loss / o.gradAccum;
        pLoss += (res.perturbedLoss ?? 0) / o.gradAccum;
        gNorm += (res.gradNorm ?? 0) / o.gradAccum;
      }
      // HF divides each micro-batch's loss by the accumulation steps; the model's backward is
      // per micro-batch mean, so the accumulated gradients are scaled once here. (The reference
      // Vaccine trainer calls model.zero_grad() between its two passes, which with accumulation
      // would also drop earlier micro-batches' gradients; we keep them, as accumulation intends.
      // With --grad-accum 1, the reference's setting, the two agree.)
      if (o.gradAccum > 1) for (const q of params) backend.scale(q.g.buf, q.g.buf, 1 / o.gradAccum, q.g.size);
      // HF Trainer clips after accumulation, before the step (max_grad_norm, default 1.0)
      const loraGradNorm = await clipGradNorm(backend, grads, o.maxGradNorm);
      optimizer.step(lr);
      await backend.sync();
      const now = performance.now();
      const stepS = (now - ts) / 1000;
      const m: StepMetrics = {
        step: k + 1, epoch: round(epoch, 6), lr, loss,
        perturbed_loss: res!.perturbedLoss === null ? null : pLoss,
        grad_norm: res!.gradNorm === null ? null : gNorm, lora_grad_norm: loraGradNorm,
        tokens, tokens_per_s: round(tokens / stepS, 2), step_s: round(stepS, 4), elapsed_s: round((now - t0) / 1000, 3),
      };
      metrics.push(m);
      appendFileSync(metricsPath, JSON.stringify(m) + '\n');
      cb.onStep?.(m, totalSteps);
      if (o.saveEvery > 0 && (k + 1) % o.saveEvery === 0 && k + 1 < totalSteps) {
        const dir = await saveCheckpoint(o.out, k + 1, lora, config, optimizer.stepCount, optimizer.stateTensors(), fp);
        cb.onCheckpoint?.(dir, k + 1);
      }
    }
    await saveAdapter(o.out, lora, config);
    return { out: o.out, steps: totalSteps - startStep, totalSteps, metrics, resumedFrom: ckpt ? startStep : null };
  } catch (e) {
    if (e instanceof AdapterError || e instanceof DataError) throw new AlignInputError(e.message);
    throw e;
  } finally {
    optimizer?.dispose();
    if (model) model.lora = null;
    lora?.dispose();
    model?.dispose();
    if (ownsBackend) await backend.destroy();
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Writes checkpoint-{step}/ (adapter, optimizer moments, trainer state) under a temporary name and
 * renames it into place, so --resume only ever sees complete checkpoints.
 */
async function saveCheckpoint(out: string, step: number, lora: Lora, config: LlamaConfig, optimizerSteps: number,
  moments: Map<string, Tensor>, fp: Record<string, unknown>): Promise<string> {
  const dir = join(out, `checkpoint-${step}`);
  const tmp = join(out, `.checkpoint-${step}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp);
    await saveAdapter(tmp, lora, config);
    if (moments.size > 0) {
      const host = new Map<string, HostTensor>();
      for (const [name, t] of moments) host.set(name, { shape: [...t.shape], data: await t.toFloat32() });
      writeSafetensors(join(tmp, 'optimizer.safetensors'), host);
    }
    writeFileAtomic(join(tmp, 'trainer_state.json'),
      JSON.stringify({ step, optimizer_step_count: optimizerSteps, fingerprint: fp }, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return dir;
}
