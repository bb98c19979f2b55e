// The options every training job shares (align, and the fine-tune that attacks it): inputs, the
// schedule and optimizer, the LoRA, and run control. A job spreads TRAIN_OPTIONS into its own
// table and adds its entries (align: --method, --rho). Each entry is the option's only
// declaration: its flag, default, check, --help line and fingerprint key (engine/jobs/options.ts).
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Backend } from '../backend.ts';
import { parseTargets, type LoraTarget } from '../lora.ts';
import { FAMILIES } from '../model/registry.ts';
import type { OptimizerKind, SchedulerKind } from '../optim.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { BACKEND_KINDS, backendHelpLines } from '../../bindings/registry.ts';
import { NONFINITE_POLICIES } from './finite.ts';
import { opt, range, type OptionValues } from './options.ts';
import { checkOut } from './outdir.ts';
import type { BackendKind, HostModel } from './session.ts';

export const SCHEDULERS: readonly SchedulerKind[] = ['cosine', 'linear', 'constant'];
export const OPTIMIZERS: readonly OptimizerKind[] = ['adamw', 'sgd'];
/** From the backend registry (it imports no backend until one is opened). */
export const BACKENDS: readonly BackendKind[] = BACKEND_KINDS;
export const WEIGHT_DTYPES = ['f32', 'f16'] as const;

/** The --help sections of a training job, in order. */
export const TRAIN_GROUPS = ['Inputs and output', 'Method', 'Schedule and optimizer', 'LoRA', 'Run control'];

/** --max-length when none is given (or the model's context, when shorter). */
export const DEFAULT_MAX_LENGTH = 200;
/** The most optimizer steps a run may take: beyond it, --epochs or --max-steps is surely a mistake. */
export const MAX_TOTAL_STEPS = 10_000_000;
const MAX_STEPS = MAX_TOTAL_STEPS;

const IO = 'Inputs and output', SCHEDULE = 'Schedule and optimizer', LORA = 'LoRA', RUN = 'Run control';

/**
 * --profile, for every job (a training job has it through TRAIN_OPTIONS; another job's table
 * spreads it in): the session profiles the run (engine/profile/profiler.ts) and the job writes
 * the trace when it succeeds.
 */
export const PROFILE_OPTION = opt.string<string | null>({
  group: RUN, arg: 'PATH', default: null, normalize: checkProfilePath,
  help: 'write a Chrome trace-event file of the run (open it in ui.perfetto.dev): each\n'
    + 'op\'s wall time (WASM) or GPU timestamps (WebGPU), within the step\'s phases;\n'
    + 'print a per-kernel table (calls, total ms, GFLOP/s) at the end',
});

function checkProfilePath(p: string | null): string | null {
  if (p === null) return null;
  if (p === '' || (existsSync(p) && statSync(p).isDirectory())) throw new Error(`--profile must name a file, got '${p}'`);
  if (!existsSync(dirname(resolve(p)))) throw new Error(`--profile: directory not found: ${dirname(resolve(p))}`);
  return p;
}

export const TRAIN_OPTIONS = {
  // ---- inputs and output ----
  model: opt.string<string | HostModel | undefined>({
    group: IO, default: undefined, objects: true, exists: 'model not found',
    help: 'Hugging Face model directory, or llama2.c .bin checkpoint',
  }),
  tokenizer: opt.string<string | Tokenizer | undefined>({
    group: IO, default: undefined, objects: true, exists: 'tokenizer not found',
    help: 'tokenizer file: tokenizer.json, SentencePiece .model or llama2.c .bin,\nrecognised by content (default: the one beside the model)',
  }),
  data: opt.string<string | Record<string, unknown>[] | undefined>({
    group: IO, default: undefined, objects: true, exists: 'data file not found',
    help: 'JSON array or JSONL; rows {instruction, input?, output} or {prompt, response}',
  }),
  out: opt.string<string | undefined>({
    group: IO, arg: 'DIR', default: undefined,
    help: 'output directory (created); one that holds another run is refused\nunless --resume or --overwrite is given',
  }),
  overwrite: opt.boolean({
    group: IO, default: false,
    help: 'replace the run in --out: its adapter, metrics.jsonl and checkpoints\nare deleted when training starts (other files are kept)',
  }),

  // ---- schedule and optimizer ----
  epochs: opt.number({
    group: SCHEDULE, arg: 'N', default: 1, range: { ok: (v) => v > 0 && v <= MAX_STEPS, what: `a number in (0, ${MAX_STEPS}]` },
    help: 'passes over the data (default {default})',
  }),
  maxSteps: opt.integer<number | null>({
    group: SCHEDULE, default: null, range: range.intIn(0, MAX_STEPS),
    help: 'optimizer steps; overrides --epochs (default: from epochs)',
  }),
  batchSize: opt.integer({
    group: SCHEDULE, default: 5, range: range.intIn(1, 4096), fingerprint: 'batch_size',
    help: 'examples per micro-batch (default {default})',
  }),
  gradAccum: opt.integer({
    group: SCHEDULE, default: 1, range: range.intIn(1, 65536), fingerprint: 'grad_accum',
    help: 'micro-batches per optimizer step (default {default})',
  }),
  lr: opt.number({ group: SCHEDULE, default: 1e-3, range: range.atLeast(0), fingerprint: 'lr', help: 'peak learning rate (default {default})' }),
  weightDecay: opt.number({
    group: SCHEDULE, default: 0.1, range: range.atLeast(0), fingerprint: 'weight_decay',
    help: 'AdamW decoupled weight decay (default {default})',
  }),
  warmupRatio: opt.number({
    group: SCHEDULE, default: 0.1, range: range.within(0, 1), fingerprint: 'warmup_ratio',
    help: 'warmup steps = ceil(X * total steps) (default {default})',
  }),
  scheduler: opt.choice(SCHEDULERS, {
    group: SCHEDULE, arg: 'S', default: 'cosine', fingerprint: 'scheduler',
    help: 'cosine | linear | constant (default {default}); cosine/linear as HF\'s\n'
      + 'get_*_schedule_with_warmup; constant as HF\'s get_constant_schedule:\n'
      + 'fixed lr, no warmup (--warmup-ratio is ignored)',
  }),
  maxGradNorm: opt.number({
    group: SCHEDULE, default: 1.0, range: { ok: (v) => v >= 0, what: 'a number >= 0 (0: no clipping)' }, fingerprint: 'max_grad_norm',
    help: 'clip the LoRA gradients\' total L2 norm to X before each step, as\n'
      + 'torch clip_grad_norm_ (default {default}: HF Trainer\'s default, which the\n'
      + 'Vaccine reference scripts use; 0: no clipping)',
  }),
  optimizer: opt.choice(OPTIMIZERS, {
    group: SCHEDULE, arg: 'O', default: 'adamw', fingerprint: 'optimizer',
    help: 'adamw | sgd (default {default}); adamw as torch.optim.AdamW\n(betas 0.9/0.999, eps 1e-8); sgd: p -= lr*g (for tests)',
  }),

  // ---- LoRA ----
  loraR: opt.integer({ group: LORA, default: 8, range: range.intIn(1, 4096), fingerprint: 'lora_r', help: 'rank (default {default})' }),
  loraAlpha: opt.number({ group: LORA, default: 4, range: range.above(0), fingerprint: 'lora_alpha', help: 'scale alpha/r (default {default})' }),
  loraDropout: opt.number({
    group: LORA, default: 0.1, range: range.within(0, 1, false), fingerprint: 'lora_dropout',
    help: 'dropout on the adapter\'s input (default {default})',
  }),
  // 'all' is resolved on the model once the session has opened it (resolveLoraTargets in trainer.ts)
  loraTargets: opt.string<string | readonly LoraTarget[], LoraTarget[] | 'all'>({
    group: LORA, arg: 'LIST', default: 'all', fingerprint: 'lora_targets', objects: true,
    normalize: (v) => (v === 'all' ? 'all' : parseTargets(typeof v === 'string' ? v : v.join(','))),
    help: 'comma-separated module names, or all: every projection of the model\'s\nfamily (default {default}), that is\n'
      + FAMILIES.map((f) => `  ${f.name}: ${f.loraTargets.map((t) => t.name).join(',')}`).join('\n'),
  }),

  // ---- run control ----
  maxLength: opt.integer<number | null>({
    group: RUN, default: null, range: range.intAtLeast(2), fingerprint: 'max_length',
    help: `truncate examples to N tokens, at most the model's context (default:\n${DEFAULT_MAX_LENGTH}, or the model's context when shorter); the run reports how many\nrows were cut and skips those left with no response token`,
  }),
  seed: opt.integer({
    group: RUN, default: 43, range: range.intIn(0, 0xffffffff), fingerprint: 'seed',
    help: 'LoRA init, data order, dropout, noise (default {default})',
  }),
  shuffle: opt.boolean({ group: RUN, flag: 'no-shuffle', negated: true, default: true, fingerprint: 'shuffle', help: 'keep the data file\'s order' }),
  initAdapter: opt.string<string | null>({
    group: RUN, arg: 'DIR', default: null, exists: '--init-adapter: adapter directory not found',
    help: 'start from this PEFT adapter (its r, alpha and targets are used)',
  }),
  mergeAdapter: opt.string<string | null>({
    group: RUN, arg: 'DIR', default: null, exists: '--merge-adapter: adapter directory not found', fingerprint: 'merge_adapter',
    help: 'merge this adapter into the base weights first (Double-LoRA)',
  }),
  backend: opt.choice<BackendKind, Backend>(BACKENDS, {
    group: RUN, arg: 'B', default: 'auto', objects: true,
    help: [`${BACKENDS.join(' | ')} (default {default}):`, ...backendHelpLines(),
      '(a CPU software renderer such as lavapipe is slower than WASM)'].join('\n'),
  }),
  webgpuLib: opt.string<string | undefined>({
    group: RUN, arg: 'PATH', default: undefined,
    help: 'the webgpu.h library for webgpu-native (default: $WEBGPU_LIB, else Dawn\'s\nlibrary from the optional npm package bun-webgpu-linux-x64)',
  }),
  weights: opt.choice(WEIGHT_DTYPES, {
    group: RUN, arg: 'f32|f16', default: 'f32', fingerprint: 'weights',
    help: 'storage of the frozen weights; f16 needs WebGPU with shader-f16 (default {default})',
  }),
  threads: opt.integer<number | undefined>({
    group: RUN, default: undefined, range: range.intIn(1, 64),
    help: 'WASM worker threads, 1..64 (default: CPU cores, at most 8)',
  }),
  saveEvery: opt.integer({
    group: RUN, default: 0, range: range.intAtLeast(0),
    help: 'checkpoint every N optimizer steps into DIR/checkpoint-N (default {default}:\nonly when interrupted by Ctrl-C or SIGTERM)',
  }),
  saveTotalLimit: opt.integer<number | null>({
    group: RUN, default: null, range: range.intAtLeast(1),
    help: 'keep only the newest N checkpoints, deleting older ones (HF Trainer\'s\nsave_total_limit; default: keep all)',
  }),
  resume: opt.boolean({ group: RUN, default: false, help: 'continue from the latest checkpoint in --out' }),
  onNonFinite: opt.choice(NONFINITE_POLICIES, {
    group: RUN, flag: 'on-nonfinite', arg: 'stop|skip', default: 'stop',
    help: 'a step whose loss or gradients are NaN or Inf: stop the run (exit 1,\nno adapter written, checkpoints kept) or skip: drop that step\'s update\nand count it (skipped_nonfinite in metrics.jsonl; 10 in a row stop)\n(default {default}); non-finite weights after an update always stop',
  }),
  profile: PROFILE_OPTION,
};

export type TrainValues = OptionValues<typeof TRAIN_OPTIONS>;

/** The checks across the shared options, made before anything is loaded: --out (checkOut). */
export function checkTrainValues(o: Pick<TrainValues, 'resume' | 'overwrite'> & { out: string }): void {
  checkOut(o.out, o);
}
