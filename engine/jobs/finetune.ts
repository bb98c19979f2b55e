// The fine-tune job: the user's fine-tune that attacks an aligned model (the paper's harmful
// fine-tuning). The alignment adapter is merged into the base weights (--merge-adapter: the
// paper's Double-LoRA), then a new LoRA is trained with SFT on the user's task data with a
// fraction p of harmful rows mixed in, exactly as the reference builds that mix
// (engine/tasks/mix.ts); the trainer's seeded shuffle orders it. `node runtime/finetune.js` is a
// thin command line over `finetune()`; a grid calls `finetuneOn(session, ...)` on its session.
//
// It is the alignment job's trainer with another step (sftStep) and other data: the session,
// trainer, checkpoints and options are shared (train-job.ts, trainer.ts, train-options.ts). Its
// own parts: the data options (--task, --benign, --harmful, --n, --p), the attack scripts'
// defaults and mix.json.
//
// Defaults (the reference's script/*_finetune/*.sh and train.py): lr 1e-5, 20 epochs, AdamW,
// weight decay 0.1, cosine with warmup 0.1, batch 5, LoRA r 8, dropout 0.1 on all seven targets,
// alpha 1 (0.5 for gsm8k); `--preset paper` also sets the per-task epochs (engine/jobs/presets.ts).
import type { CausalLM } from '../model/causal_lm.ts';
import { parseHarmfulRows } from '../tasks/harmful.ts';
import { buildMix, mixedRows, planMix, writeMixRecord, type MixRecord } from '../tasks/mix.ts';
import { parseTaskRows, TASK_NAMES, type TaskName } from '../tasks/tasks.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { sftStep } from '../vaccine.ts';
import { prepareData, type DataStats } from './dataset.ts';
import { asInputError, InputError } from './errors.ts';
import { normalizeOptions, opt, optionDefaults, range, stripUndefined, type OptionInputs, type OptionValues } from './options.ts';
import { finetunePaper, PRESET_HELP, PRESETS, type PresetName } from './presets.ts';
import type { Session } from './session.ts';
import { normalizeTrainJob, runTrainJob, withJobSession } from './train-job.ts';
import { trainInMemory, type InMemoryResult, type StepFunction, type StepMetrics, type TrainCallbacks, type TrainResult, type TrainStartInfo } from './trainer.ts';
import { TRAIN_OPTIONS } from './train-options.ts';

const MIX = 'Data mix';

// Every training option but --data: the fine-tune's rows come from the mix.
const { data: _data, ...TRAIN_WITHOUT_DATA } = TRAIN_OPTIONS;

/** finetune's options: the shared training set (its defaults those of the attack scripts) and the data mix. */
export const FINETUNE_OPTIONS = {
  ...TRAIN_WITHOUT_DATA,
  // ---- the data mix ----
  task: opt.choice<TaskName, undefined>(TASK_NAMES, {
    group: MIX, arg: 'T', default: undefined, fingerprint: 'task',
    help: 'sst2 | agnews | gsm8k | alpaca: how --benign rows become training rows\n'
      + '(sst2 {sentence,label}, agnews {text,label}, gsm8k {question,answer}, or\n'
      + 'Alpaca rows)',
  }),
  benign: opt.string<string | undefined>({
    group: MIX, arg: 'FILE', default: undefined, exists: 'benign data file not found',
    help: 'the user\'s task data (JSONL or JSON array)',
  }),
  harmful: opt.string<string | null>({
    group: MIX, arg: 'FILE', default: null, exists: 'harmful data file not found',
    help: 'harmful rows: BeaverTails {prompt,response,is_safe?} or Alpaca rows;\n'
      + 'rows marked is_safe: true are skipped (needed when floor(p*n) > 0)',
  }),
  n: opt.integer({ group: MIX, default: 1000, range: range.intAtLeast(1), fingerprint: 'n', help: 'rows in the mix (default {default})' }),
  p: opt.number({
    group: MIX, default: 0.1, range: range.within(0, 1), fingerprint: 'p',
    help: 'harmful fraction: the first floor(p*n) harmful rows, then the first\n'
      + 'n - floor(p*n) benign rows, in file order; then the seeded shuffle\n'
      + '(default {default}). mix.json in --out records the rows and the files\' sha256',
  }),
  preset: opt.choice<PresetName, null>(PRESETS, { group: 'Preset', arg: 'P', default: null, help: PRESET_HELP.finetune }),
  // ---- the attack scripts' defaults ----
  epochs: { ...TRAIN_OPTIONS.epochs, default: 20, help: 'passes over the data (default {default}; --preset paper: 50 for gsm8k, 100 for alpaca)' },
  lr: { ...TRAIN_OPTIONS.lr, default: 1e-5 },
  loraAlpha: opt.number<number | null>({
    group: 'LoRA', default: null, range: range.above(0), fingerprint: 'lora_alpha',
    help: 'scale alpha/r (default: 1; 0.5 with --task gsm8k, as the reference\'s train.py)',
  }),
  mergeAdapter: {
    ...TRAIN_OPTIONS.mergeAdapter,
    help: 'the alignment adapter: merged into the base weights, then a new LoRA\ntrains on top (the paper\'s Double-LoRA)',
  },
};

/** The --help sections of finetune, in order. */
export const FINETUNE_GROUPS = ['Inputs and output', 'Data mix', 'Preset', 'Schedule and optimizer', 'LoRA', 'Run control'];

export type FinetuneOptions = OptionInputs<typeof FINETUNE_OPTIONS>;
export type FinetuneValues = Omit<OptionValues<typeof FINETUNE_OPTIONS>, 'task' | 'benign' | 'loraAlpha'>
  & { task: TaskName; benign: string; loraAlpha: number; out: string };
export const FINETUNE_DEFAULTS = optionDefaults(FINETUNE_OPTIONS);

export type FinetuneStartInfo = TrainStartInfo & { mix: MixRecord; truncation: Truncation };
export interface FinetuneCallbacks extends TrainCallbacks { onStart?(info: FinetuneStartInfo): void }
export interface FinetuneResult extends TrainResult { mix: MixRecord; truncation: Truncation }

/** The fine-tune's step: SFT, as the reference's attack (optimizer "normal") trains. */
export const finetuneStep: StepFunction = (model, batch, c) => sftStep(model, batch, { dropoutSeed: c.dropoutSeed });

/**
 * Validates and completes options; throws InputError naming the bad option. `--preset paper` sets
 * defaults beneath the options given; --lora-alpha, when not given, is 1 (0.5 for gsm8k).
 */
export function normalizeFinetuneOptions(input: Partial<FinetuneOptions>, onSession = false): FinetuneValues {
  let withPreset = input;
  if (input.preset === 'paper' && typeof input.task === 'string' && (TASK_NAMES as readonly string[]).includes(input.task)) {
    withPreset = { ...finetunePaper(input.task), ...stripUndefined(input) };
  }
  const o = normalizeTrainJob('finetune', FINETUNE_OPTIONS, withPreset, onSession, {
    task: `no task given (--task ${TASK_NAMES.join('|')})`,
    benign: 'no task data given (--benign FILE)',
  });
  if (o.loraAlpha === null) o.loraAlpha = o.task === 'gsm8k' ? 0.5 : 1;
  return o as FinetuneValues;
}

/** Fine-tunes a model: opens a session for it, trains on the mix, saves the adapter and mix.json in `out`, closes the session. */
export async function finetune(input: Partial<FinetuneOptions>, cb: FinetuneCallbacks = {}): Promise<FinetuneResult> {
  const o = normalizeFinetuneOptions(input);
  const mix = readMix(o); // the data is checked before the model is loaded
  return withJobSession(o, (m) => cb.onLog?.(m), (session) => run(session, o, mix, cb));
}

/**
 * Fine-tunes the model of a session the caller holds (and closes): its base is set to the model
 * with --merge-adapter merged (or none), and the session's model is left that way.
 */
export async function finetuneOn(session: Session, input: Partial<FinetuneOptions>, cb: FinetuneCallbacks = {}): Promise<FinetuneResult> {
  const o = normalizeFinetuneOptions(input, true);
  return run(session, o, readMix(o), cb);
}

/** The mix the options describe (files read, rows checked); bad data is an InputError. */
function readMix(o: FinetuneValues): ReturnType<typeof buildMix> {
  try {
    return buildMix({ task: o.task, benign: o.benign, harmful: o.harmful, n: o.n, p: o.p });
  } catch (e) {
    throw asInputError(e);
  }
}

async function run(session: Session, o: FinetuneValues, mix: ReturnType<typeof buildMix>, cb: FinetuneCallbacks): Promise<FinetuneResult> {
  const rows = mix.rows.map(({ instruction, input, output }) => ({ instruction, input, output }));
  // the core's truncation report (rows cut, rows left with no answer token: skipped) goes to onLog
  const data = prepareData(rows, session.tokenizer, session.config, o, (m) => cb.onLog?.(m));
  o.maxLength = data.maxLength; // the length used enters the fingerprint
  const truncation: Truncation = { maxLength: data.maxLength, ...data.stats };
  // mix.json is written when `out` first is: after every check, beside the first metrics; it says
  // which rows were picked and what --max-length did to them
  const record = { ...mix.record, training: { max_length: data.maxLength, rows_cut: data.stats.truncated, rows_skipped_no_answer: data.stats.empty } };
  const callbacks: TrainCallbacks = {
    ...cb,
    onStart: (info) => {
      writeMixRecord(o.out, record);
      cb.onStart?.({ ...info, mix: mix.record, truncation });
    },
  };
  const res = await runTrainJob(session, o, { data, step: finetuneStep, method: 'finetune', table: FINETUNE_OPTIONS }, callbacks);
  return { ...res, mix: mix.record, truncation };
}

/** What finetuneInMemory takes: finetune's options without the files (the model, tokenizer and data are given). */
export type InMemoryFinetuneOptions = Omit<Partial<FinetuneOptions>, 'model' | 'tokenizer' | 'benign' | 'harmful' | 'out' | 'backend' | 'threads'
  | 'webgpuLib' | 'weights' | 'overwrite' | 'resume' | 'saveEvery' | 'saveTotalLimit' | 'initAdapter' | 'mergeAdapter' | 'preset' | 'profile'>;

/** The mix's two sources as text (a file's contents and its name for messages). */
export interface MixTexts { benign: { name: string; text: string }; harmful: { name: string; text: string } | null }

/**
 * Fine-tunes `model` with no files (the web page's attack): the mix is picked from the two texts
 * as finetune() picks it from the two files (planMix, the same rows in the same order), encoded
 * and trained on as finetune() trains (the same data order, adapter, optimizer, schedule and SFT
 * step). The new adapter is left attached to the model and returned (the caller disposes it). The
 * caller merges the alignment adapter into the model first, as --merge-adapter does.
 */
export async function finetuneInMemory(model: CausalLM, tokenizer: Tokenizer, texts: MixTexts, input: InMemoryFinetuneOptions,
  cb: { onStep?(m: StepMetrics, totalSteps: number): void | Promise<void>; onLog?(message: string): void; signal?: AbortSignal } = {}): Promise<InMemoryResult & { harmfulRows: number; benignRows: number }> {
  const o = normalizeOptions(FINETUNE_OPTIONS, input);
  if (!o.task) throw new InputError(`no task given (task: ${TASK_NAMES.join('|')})`);
  const loraAlpha = o.loraAlpha ?? (o.task === 'gsm8k' ? 0.5 : 1);
  let rows;
  try {
    const benign = parseTaskRows(o.task, texts.benign.text, texts.benign.name);
    const harmful = texts.harmful ? parseHarmfulRows(texts.harmful.text, texts.harmful.name) : null;
    const plan = planMix(harmful, benign, o.n, o.p, { harmful: texts.harmful?.name, benign: texts.benign.name });
    rows = mixedRows(plan, harmful, benign).map(({ instruction, input, output }) => ({ instruction, input, output }));
  } catch (e) {
    throw asInputError(e);
  }
  const data = prepareData(rows, tokenizer, model.config, o, (m) => cb.onLog?.(m));
  const harmfulRows = Math.floor(o.p * o.n);
  const res = await trainInMemory({ model, data, step: finetuneStep, settings: { ...o, loraAlpha } }, cb);
  return { ...res, harmfulRows, benignRows: o.n - harmfulRows };
}

/**
 * What --max-length did to the mix (the core's report, engine/jobs/dataset.ts): rows cut (they
 * lose the end of their answer and EOS), and rows left with no answer token, which are skipped
 * (with stories260K's tokenizer an SST-2 row is ~205 tokens: at 200 most lose their label).
 */
export type Truncation = DataStats & { maxLength: number };
