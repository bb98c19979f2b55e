// The options every training job shares (align, and the fine-tune that attacks it): inputs, the
// schedule and optimizer, the LoRA, and run control. A job spreads TRAIN_OPTIONS into its own
// table and adds its entries (align: --method, --rho). Each entry is the option's only
// declaration: its flag, default, check, --help line and fingerprint key (engine/jobs/options.ts).
import type { Backend } from '../backend.ts';
import { parseTargets, type LoraTarget } from '../lora.ts';
import { FAMILIES } from '../model/registry.ts';
import type { OptimizerKind, SchedulerKind } from '../optim.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { BACKEND_KINDS, backendHelpLines } from '../../bindings/registry.ts';
import { opt, range, type OptionValues } from './options.ts';
import type { BackendKind, HostModel } from './session.ts';

export const SCHEDULERS: readonly SchedulerKind[] = ['cosine', 'linear', 'constant'];
export const OPTIMIZERS: readonly OptimizerKind[] = ['adamw', 'sgd'];
/** From the backend registry (it imports no backend until one is opened). */
export const BACKENDS: readonly BackendKind[] = BACKEND_KINDS;
export const WEIGHT_DTYPES = ['f32', 'f16'] as const;

/** The --help sections of a training job, in order. */
export const TRAIN_GROUPS = ['Inputs and output', 'Method', 'Schedule and optimizer', 'LoRA', 'Run control'];

const IO = 'Inputs and output', SCHEDULE = 'Schedule and optimizer', LORA = 'LoRA', RUN = 'Run control';

export const TRAIN_OPTIONS = {
  // ---- inputs and output ----
  model: opt.string<string | HostModel | undefined>({
    group: IO, default: undefined, objects: true, exists: 'model not found',
    help: 'Hugging Face model directory, or llama2.c .bin checkpoint',
  }),
  tokenizer: opt.string<string | Tokenizer | undefined>({
    group: IO, default: undefined, objects: true, exists: 'tokenizer not found',
    help: 'tokenizer file (default: the one beside the model)',
  }),
  data: opt.string<string | Record<string, unknown>[] | undefined>({
    group: IO, default: undefined, objects: true, exists: 'data file not found',
    help: 'JSON array or JSONL; rows {instruction, input?, output} or {prompt, response}',
  }),
  out: opt.string<string | undefined>({ group: IO, arg: 'DIR', default: undefined, help: 'output directory (created)' }),

  // ---- schedule and optimizer ----
  epochs: opt.number({ group: SCHEDULE, arg: 'N', default: 1, range: range.above(0), help: 'passes over the data (default {default})' }),
  maxSteps: opt.integer<number | null>({
    group: SCHEDULE, default: null, range: range.intAtLeast(0),
    help: 'optimizer steps; overrides --epochs (default: from epochs)',
  }),
  batchSize: opt.integer({
    group: SCHEDULE, default: 5, range: range.intAtLeast(1), fingerprint: 'batch_size',
    help: 'examples per micro-batch (default {default})',
  }),
  gradAccum: opt.integer({
    group: SCHEDULE, default: 1, range: range.intAtLeast(1), fingerprint: 'grad_accum',
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
  loraR: opt.integer({ group: LORA, default: 8, range: range.intAtLeast(1), fingerprint: 'lora_r', help: 'rank (default {default})' }),
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
  maxLength: opt.integer({
    group: RUN, default: 200, range: range.intAtLeast(2), fingerprint: 'max_length',
    help: 'truncate examples to N tokens (default {default})',
  }),
  seed: opt.integer({
    group: RUN, default: 43, range: range.intAtLeast(0), fingerprint: 'seed',
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
    help: 'checkpoint every N optimizer steps into DIR/checkpoint-N (default {default}: never)',
  }),
  resume: opt.boolean({ group: RUN, default: false, help: 'continue from the latest checkpoint in --out' }),
};

export type TrainValues = OptionValues<typeof TRAIN_OPTIONS>;
