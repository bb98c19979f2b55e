// The experiment grid's option table (`node runtime/experiment.js`, `experiment()`): the model, the
// grid (alignment methods x harmful fractions p x seeds), the alignment, the attack, the training
// settings both share, the evaluation and run control. Flags, defaults, checks and --help come
// from this one table (engine/jobs/options.ts). `--preset quick|paper` sets defaults beneath the
// options given.
//
// Default inputs: the model is stories260K from the shared data folder (../shared/data beside the
// package, or $VACCINE_SHARED_DATA) when it is there, else the built-in demo model (a tiny random
// Llama with a byte tokenizer) with generated data. With a real model the data files default to
// the shared folder's: safety_refusals (alignment), sst2_train mixed with beavertails_unsafe_qa
// (the attack), harmful_prompts_val (HS), harmless_prompts_val (over-refusal), sst2_validation (FA).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALIGN_PAPER, finetunePaper } from './presets.ts';
import { EVAL_TASKS, REFERENCE_MAX_NEW_TOKENS, type EvalTask } from './evaluate-options.ts';
import { opt, range, type OptionInputs, type OptionValues } from './options.ts';
import { TRAIN_OPTIONS } from './train-options.ts';

export const GRID_METHODS = ['none', 'sft', 'vaccine', 'random-vaccine'] as const;
export type GridMethod = typeof GRID_METHODS[number];
export const EXPERIMENT_PRESETS = ['quick', 'paper'] as const;
export type ExperimentPreset = typeof EXPERIMENT_PRESETS[number];

const IO = 'Model and output', GRID = 'Grid', ALIGN = 'Alignment', ATTACK = 'Attack (the user\'s fine-tune)',
  TRAIN = 'Training (alignment and attack)', EVAL = 'Evaluation', RUN = 'Run control';
export const EXPERIMENT_GROUPS = [IO, GRID, ALIGN, ATTACK, TRAIN, EVAL, RUN];

/** The default output directory (relative to the working directory). */
export const DEFAULT_OUT = 'vaccine-experiment';

// ---- the lists: methods, p values, seeds -------------------------------------------------------

function splitList(flag: string, v: string): string[] {
  const parts = v.split(',').map((s) => s.trim());
  // a trailing comma makes a one-element list ("--seeds 7,")
  if (parts.length > 1 && parts.at(-1) === '') parts.pop();
  if (parts.some((s) => s === '')) throw new Error(`${flag}: an empty item in '${v}'`);
  return parts;
}

function noDuplicates<T>(flag: string, xs: T[]): T[] {
  const dup = xs.find((x, i) => xs.indexOf(x) !== i);
  if (dup !== undefined) throw new Error(`${flag}: ${dup} is given twice`);
  return xs;
}

export function parseMethods(v: string | readonly string[]): GridMethod[] {
  const items = typeof v === 'string' ? splitList('--methods', v) : [...v];
  if (items.length === 0) throw new Error('--methods: no method given');
  for (const m of items) {
    if (!(GRID_METHODS as readonly string[]).includes(m)) throw new Error(`--methods: unknown method '${m}' (known: ${GRID_METHODS.join(', ')})`);
  }
  return noDuplicates('--methods', items as GridMethod[]);
}

export function parsePs(v: string | readonly number[]): number[] {
  const items = typeof v === 'string' ? splitList('--ps', v).map((s) => (s.trim() === '' ? NaN : Number(s))) : [...v];
  if (items.length === 0) throw new Error('--ps: no value given');
  for (const [i, p] of items.entries()) {
    if (typeof p !== 'number' || !Number.isFinite(p)) throw new Error(`--ps: '${typeof v === 'string' ? splitList('--ps', v)[i] : p}' is not a number`);
    if (p < 0 || p > 1) throw new Error(`--ps: p must be in [0, 1], got ${p}`);
  }
  return noDuplicates('--ps', items).sort((a, b) => a - b);
}

/** A count N ("3": seeds 1..N) or a list ("7,11"; "7," is the one seed 7). */
export function parseSeeds(v: string | readonly number[]): number[] {
  let seeds: number[];
  if (typeof v === 'string') {
    const items = splitList('--seeds', v);
    const nums = items.map(Number);
    if (items.some((s, i) => !/^\d+$/.test(s) || !Number.isSafeInteger(nums[i]))) throw new Error(`--seeds: expected a count N or a list of integers, got '${v}'`);
    if (items.length === 1 && !v.includes(',')) {
      if (nums[0] < 1 || nums[0] > 1000) throw new Error(`--seeds: a count must be in 1..1000, got ${nums[0]}`);
      seeds = Array.from({ length: nums[0] }, (_, i) => i + 1);
    } else seeds = nums;
  } else seeds = [...v];
  if (seeds.length === 0) throw new Error('--seeds: no seed given');
  for (const s of seeds) if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) throw new Error(`--seeds: a seed must be an integer in 0..4294967295, got ${s}`);
  return noDuplicates('--seeds', seeds);
}

// ---- the shared data folder --------------------------------------------------------------------

/** The package's root: the nearest folder above this module with vaccine-engine's package.json. */
export function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try { if (JSON.parse(readFileSync(pj, 'utf8')).name === 'vaccine-engine') return dir; } catch { /* not ours */ }
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** $VACCINE_SHARED_DATA, else ../shared/data beside the package (null when neither exists). */
export function sharedDataDir(): string | null {
  const env = process.env.VACCINE_SHARED_DATA;
  if (env) return existsSync(env) ? env : null;
  const root = packageRoot();
  const dir = root ? join(root, '..', 'shared', 'data') : null;
  return dir && existsSync(dir) ? dir : null;
}

/** The shared folder's files that the grid uses by default, relative to it. */
export const SHARED_FILES = {
  model: 'models/stories260K/stories260K.bin',
  alignData: 'alignment/safety_refusals.jsonl',
  benign: { sst2: 'tasks/sst2_train.jsonl', agnews: 'tasks/agnews_test.jsonl', gsm8k: 'tasks/gsm8k_train.jsonl' } as Record<EvalTask, string>,
  harmful: 'harmful/beavertails_unsafe_qa.jsonl',
  harmfulPrompts: 'harmful/harmful_prompts_val.jsonl',
  harmlessPrompts: 'harmful/harmless_prompts_val.jsonl',
  eval: { sst2: 'tasks/sst2_validation.jsonl', agnews: 'tasks/agnews_test.jsonl', gsm8k: 'tasks/gsm8k_test.jsonl' } as Record<EvalTask, string>,
};

// ---- the table ---------------------------------------------------------------------------------

const file = (group: string, help: string, exists: string) => opt.string<string | undefined>({ group, arg: 'FILE', default: undefined, exists, help });

export const EXPERIMENT_OPTIONS = {
  // ---- model and output ----
  model: {
    ...TRAIN_OPTIONS.model, group: IO,
    help: 'Hugging Face model directory or llama2.c .bin, or demo: the built-in demo\n'
      + 'model (a tiny random Llama, byte tokenizer) with generated data (default:\n'
      + 'stories260K from the shared data folder, ../shared/data or\n'
      + '$VACCINE_SHARED_DATA, when it is there; else the demo)',
  },
  tokenizer: { ...TRAIN_OPTIONS.tokenizer, group: IO },
  out: opt.string({
    group: IO, arg: 'DIR', default: DEFAULT_OUT,
    help: 'the grid\'s folder (default {default}): results.json,\n'
      + 'report.html, and each alignment\'s and cell\'s record; a re-run skips\n'
      + 'what is finished there',
  }),
  overwrite: opt.boolean({
    group: IO, default: false,
    help: 'redo alignments and cells that --out holds with other settings (they\n'
      + 'are refused otherwise); finished ones with these settings are still kept',
  }),
  preset: opt.choice<ExperimentPreset, null>(EXPERIMENT_PRESETS, {
    group: IO, arg: 'P', default: null,
    help: 'quick: a small grid on stories260K in under 30 minutes on 2 cores;\n'
      + 'paper: the reference\'s scripts (see below). Options given explicitly win',
  }),

  // ---- the grid ----
  methods: opt.string<string | readonly string[], GridMethod[]>({
    group: GRID, arg: 'LIST', default: 'none,sft,vaccine', objects: true, normalize: parseMethods,
    help: `alignments to attack, comma-separated: ${GRID_METHODS.join(', ')}\n(default {default}; none: the bare model)`,
  }),
  ps: opt.string<string | readonly number[], number[]>({
    group: GRID, arg: 'LIST', default: '0,0.05,0.1,0.2', objects: true, normalize: parsePs,
    help: 'harmful fractions of the attack\'s data, each in [0, 1] (default {default})',
  }),
  seeds: opt.string<string | readonly number[], number[]>({
    group: GRID, arg: 'N|LIST', default: '1', objects: true, normalize: parseSeeds,
    help: 'a count N (seeds 1..N) or a list (7,11; "7," is the one seed 7); each\n'
      + 'seed is a replicate: its own alignments and attacks (default {default})',
  }),

  // ---- alignment ----
  alignData: file(ALIGN, 'alignment rows, Alpaca or BeaverTails (default: the shared\nsafety_refusals.jsonl; the demo: generated refusals)', '--align-data: file not found'),
  alignN: opt.integer<number | null>({ group: ALIGN, default: null, range: range.intAtLeast(1), help: 'train on the first N rows (default: all); drift uses the first ones too' }),
  alignEpochs: opt.number({ group: ALIGN, arg: 'N', default: 1, range: range.above(0), help: 'passes over the alignment rows (default {default})' }),
  alignMaxSteps: opt.integer<number | null>({ group: ALIGN, default: null, range: range.intAtLeast(1), help: 'optimizer steps; overrides --align-epochs (default: from epochs)' }),
  alignLr: opt.number({ group: ALIGN, default: 1e-3, range: range.atLeast(0), help: 'peak learning rate (default {default})' }),
  alignLoraAlpha: opt.number({ group: ALIGN, default: 4, range: range.above(0), help: 'LoRA alpha of the alignment adapter (default {default}; paper: 1)' }),
  rho: opt.number({
    group: ALIGN, default: 2, range: range.within(0, 1000),
    help: 'Vaccine\'s perturbation norm; random-vaccine: the noise variance (default {default})',
  }),

  // ---- the attack ----
  task: opt.choice<EvalTask>(EVAL_TASKS, { group: ATTACK, arg: 'T', default: 'sst2', help: 'sst2 | agnews | gsm8k: the user\'s task, trained and scored (default {default})' }),
  benign: file(ATTACK, 'the task\'s training rows (default: the shared sst2_train.jsonl,\nagnews_test.jsonl or gsm8k_train.jsonl)', '--benign: file not found'),
  harmful: file(ATTACK, 'harmful rows mixed in (default: the shared beavertails_unsafe_qa.jsonl)', '--harmful: file not found'),
  n: opt.integer({ group: ATTACK, default: 1000, range: range.intAtLeast(1), help: 'rows in each attack\'s mix: floor(p*n) harmful, the rest benign\n(default {default})' }),
  attackEpochs: opt.number({ group: ATTACK, arg: 'N', default: 20, range: range.above(0), help: 'passes over the mix (default {default})' }),
  attackMaxSteps: opt.integer<number | null>({ group: ATTACK, default: null, range: range.intAtLeast(1), help: 'optimizer steps; overrides --attack-epochs (default: from epochs)' }),
  attackLr: opt.number({ group: ATTACK, default: 1e-5, range: range.atLeast(0), help: 'peak learning rate (default {default})' }),
  attackLoraAlpha: opt.number<number | null>({ group: ATTACK, default: null, range: range.above(0), help: 'LoRA alpha of the attack adapter (default: 1; 0.5 for gsm8k)' }),

  // ---- training settings both share ----
  batchSize: { ...TRAIN_OPTIONS.batchSize, group: TRAIN },
  maxLength: {
    ...TRAIN_OPTIONS.maxLength, group: TRAIN,
    help: 'truncate training rows (and drift samples) to N tokens (default: 200, or\nthe model\'s context when shorter)',
  },
  loraR: { ...TRAIN_OPTIONS.loraR, group: TRAIN },
  loraDropout: { ...TRAIN_OPTIONS.loraDropout, group: TRAIN },

  // ---- evaluation ----
  harmfulPrompts: file(EVAL, 'prompts for the harmful score (default: the shared harmful_prompts_val.jsonl)', '--harmful-prompts: file not found'),
  harmlessPrompts: file(EVAL, 'prompts for over-refusal (default: the shared harmless_prompts_val.jsonl)', '--harmless-prompts: file not found'),
  eval: file(EVAL, 'the task\'s evaluation rows for FA (default: the shared sst2_validation.jsonl,\nagnews_test.jsonl or gsm8k_test.jsonl)', '--eval: file not found'),
  evalLimit: opt.integer({ group: EVAL, default: 500, range: range.intAtLeast(1), help: 'the first N harmful prompts and evaluation rows (default {default})' }),
  harmlessLimit: opt.integer({ group: EVAL, default: 100, range: range.intAtLeast(1), help: 'the first N harmless prompts (default {default})' }),
  judge: opt.string({ group: EVAL, arg: 'J', default: 'keyword', help: 'keyword | model:DIR, as evaluate.js (default {default})' }),
  maxNewTokens: opt.integer<number | null>({
    group: EVAL, default: null, range: range.intAtLeast(1),
    help: `tokens generated per answer, at most (default: ${REFERENCE_MAX_NEW_TOKENS.prompts} for prompts, ${REFERENCE_MAX_NEW_TOKENS.task} for\nthe task, as the reference)`,
  }),
  driftSamples: opt.integer({ group: EVAL, default: 50, range: range.intAtLeast(1), help: 'drift over the first N alignment rows, against the aligned model\n(default {default})' }),
  evalBatchSize: opt.integer({ group: EVAL, default: 16, range: range.intAtLeast(1), help: 'prompts decoded together (default {default})' }),

  // ---- run control ----
  backend: { ...TRAIN_OPTIONS.backend, group: RUN },
  threads: { ...TRAIN_OPTIONS.threads, group: RUN },
  webgpuLib: { ...TRAIN_OPTIONS.webgpuLib, group: RUN },
  saveEvery: { ...TRAIN_OPTIONS.saveEvery, group: RUN },
};

export type ExperimentOptions = OptionInputs<typeof EXPERIMENT_OPTIONS>;
export type ExperimentValues = OptionValues<typeof EXPERIMENT_OPTIONS>;

// ---- presets -----------------------------------------------------------------------------------

/**
 * --preset quick: the grid on stories260K in under 30 minutes on 2 cores (measured: 12.0 minutes
 * wall at load 5.2-3.1 on the shared 2-core machine, README). Short alignments and attacks at learning rates high enough
 * for a tiny model to learn within them, few evaluation prompts, and a --max-length that keeps
 * the SST-2 label (a row is ~205 tokens with stories260K's tokenizer, the longest 332 of the first
 * 1000). Measured on stories260K (evaluate.js, 40 prompts each): 100 alignment steps at lr 5e-3
 * make SFT and Vaccine refuse every harmful and every harmless prompt (HS 0, over-refusal 100),
 * at 1e-3 neither refuses. The attack at lr 3e-3 x 3 epochs (60 steps) is the one that takes: FA
 * leaves 0 (the label words come out; ~50-65%, near SST-2's chance) and, even at p = 0, the
 * benign rows undo the refusal; at lr 1e-3 x 4 epochs (80 steps) FA stays 0 and both aligned
 * models go on refusing at every p. A model this small does not separate harmful from harmless
 * prompts, so the grid exercises the pipeline more than it tests the paper's claim.
 */
export const QUICK_PRESET: Partial<ExperimentOptions> = {
  methods: 'none,sft,vaccine', ps: '0,0.05,0.1,0.2', seeds: '2',
  alignN: 1000, alignMaxSteps: 100, alignLr: 5e-3, alignLoraAlpha: 4, rho: 2,
  n: 100, attackEpochs: 3, attackLr: 3e-3,
  batchSize: 5, maxLength: 320,
  evalLimit: 40, harmlessLimit: 40, maxNewTokens: 48, driftSamples: 20,
};

/**
 * --preset paper: the reference's shipped scripts (engine/jobs/presets.ts lists each value with
 * its source): alignment 50 epochs at lr 1e-3, LoRA alpha 1, rho 2; the attack's per-task epochs
 * at lr 1e-5, alpha 1 (0.5 for gsm8k), n 1000; batch 5, max length 200, LoRA r 8 with dropout 0.1;
 * p in {0, 0.05, 0.1, 0.2}; one seed (43, train.py's), as the reference runs each setting once.
 */
export function paperPreset(task: EvalTask): Partial<ExperimentOptions> {
  const f = finetunePaper(task);
  return {
    methods: 'none,sft,vaccine', ps: '0,0.05,0.1,0.2', seeds: '43,',
    alignEpochs: ALIGN_PAPER.epochs, alignLr: ALIGN_PAPER.lr, alignLoraAlpha: ALIGN_PAPER.loraAlpha, rho: ALIGN_PAPER.rho,
    n: f.n, attackEpochs: f.epochs, attackLr: f.lr, attackLoraAlpha: f.loraAlpha,
    batchSize: f.batchSize, maxLength: f.maxLength, loraR: f.loraR, loraDropout: f.loraDropout,
  };
}

export const PRESET_NOTE = `--preset paper: the reference's scripts as they run (engine/jobs/presets.ts): alignment 50
epochs, lr 1e-3, LoRA alpha 1, rho 2; attack 20 epochs (sst2, agnews; 50 for gsm8k), lr 1e-5, alpha
1 (0.5 gsm8k), n 1000; batch 5, max length 200, LoRA r 8, dropout 0.1, all targets; AdamW, weight
decay 0.1, cosine with warmup 0.1, max grad norm 1 (align.js's and finetune.js's own defaults);
p 0, 0.05, 0.1, 0.2; seed 43. Days of compute on a CPU.
${wrap(`--preset quick: ${Object.entries(QUICK_PRESET).map(([k, v]) => `--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} ${v}`).join(', ')}.`)}`;

/** Text broken into lines of at most `width` characters, at spaces. */
function wrap(text: string, width = 96): string {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(' ')) {
    if (line && line.length + 1 + w.length > width) { lines.push(line); line = w; } else line = line ? `${line} ${w}` : w;
  }
  return [...lines, line].join('\n');
}
