// The alignment job: trains a LoRA adapter on a base model with SFT, Vaccine or random Vaccine and
// saves it in PEFT's format. `node runtime/align.js` is a thin command line over `align()`; other
// Node tools call `align()` (which opens and closes its own session) or `alignOn(session, ...)`
// (a grid's session, whose model is uploaded once), and follow progress through callbacks.
//
// What is align's own is small: its two options (--method, --rho), the step function each method
// picks, and the data file. The session (engine/jobs/session.ts), the trainer (trainer.ts),
// checkpoints (checkpoint.ts) and the option table (options.ts, train-options.ts) are shared.
//
// Everything that can be wrong with the input (options, data, model, adapters) is checked before
// anything is written to `out`, and every file written there goes through a temporary name, so a
// failed run leaves no half-written files.
import { randomVaccineStep, sftStep, vaccineStep } from '../vaccine.ts';
import { mixSeed } from '../random.ts';
import { prepareData } from './dataset.ts';
import { normalizeOptions, opt, optionDefaults, range, stripUndefined, type OptionInputs, type OptionValues } from './options.ts';
import { ALIGN_PAPER, PRESET_HELP, PRESETS, type PresetName } from './presets.ts';
import type { Session } from './session.ts';
import { normalizeTrainJob, runTrainJob, withJobSession } from './train-job.ts';
import { trainInMemory, type InMemoryResult, type StepFunction, type StepMetrics, type TrainCallbacks, type TrainResult, type TrainStartInfo } from './trainer.ts';
import { TRAIN_OPTIONS } from './train-options.ts';
import type { CausalLM } from '../model/causal_lm.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';

export { InputError, AlignInputError } from './errors.ts';
export { stripUndefined } from './options.ts';
export { SCHEDULERS, OPTIMIZERS, BACKENDS } from './train-options.ts';
export { prepareData, type PreparedData } from './dataset.ts';
export { findCheckpoint } from './checkpoint.ts';
export { totalStepsFor, type Interrupted, type StepMetrics } from './trainer.ts';
export { NonFiniteError } from './finite.ts';

export type AlignMethod = 'sft' | 'vaccine' | 'random-vaccine';
export const ALIGN_METHODS: readonly AlignMethod[] = ['sft', 'vaccine', 'random-vaccine'];

/** align's options: the shared training set and its own two. */
export const ALIGN_OPTIONS = {
  ...TRAIN_OPTIONS,
  method: opt.choice(ALIGN_METHODS, {
    group: 'Method', arg: 'M', default: 'vaccine', fingerprint: 'method', help: 'sft | vaccine | random-vaccine (default {default})',
  }),
  rho: opt.number({
    group: 'Method', default: 2, range: range.within(0, 1000), fingerprint: 'rho',
    help: 'perturbation size (default {default}); Vaccine: the perturbation\'s L2 norm;\n'
      + 'random-vaccine: the VARIANCE of the Gaussian noise (std = sqrt(rho))',
  }),
  preset: opt.choice<PresetName, null>(PRESETS, { group: 'Method', arg: 'P', default: null, help: PRESET_HELP.align }),
};

/** The options as a caller passes them (align takes a Partial: every option has a default or is checked). */
export type AlignOptions = OptionInputs<typeof ALIGN_OPTIONS>;
/** The options after defaults and checks. */
export type AlignValues = OptionValues<typeof ALIGN_OPTIONS>;
export const ALIGN_DEFAULTS = optionDefaults(ALIGN_OPTIONS);

export type AlignStartInfo = TrainStartInfo & { method: AlignMethod };
export interface AlignCallbacks extends TrainCallbacks { onStart?(info: AlignStartInfo): void }
export type AlignResult = TrainResult;

/** The step function of each method. */
export function alignStep(method: AlignMethod, rho: number): StepFunction {
  switch (method) {
    case 'sft': return (model, batch, c) => sftStep(model, batch, { dropoutSeed: c.dropoutSeed });
    case 'vaccine': return (model, batch, c) => vaccineStep(model, batch, { dropoutSeed: c.dropoutSeed, rho });
    case 'random-vaccine': return (model, batch, c) =>
      randomVaccineStep(model, batch, { dropoutSeed: c.dropoutSeed, rho, noiseSeed: mixSeed(c.seed, c.microBatch, 0x4e) });
  }
}

/**
 * Validates and completes options; throws InputError naming the bad option. With `onSession`,
 * the options are for a session the caller already holds, so they must not name its model,
 * tokenizer, backend, threads or weights. `--preset paper` sets defaults beneath the options given.
 */
export function normalizeAlignOptions(input: Partial<AlignOptions>, onSession = false): AlignValues & { out: string } {
  const withPreset = input.preset === 'paper' ? { ...ALIGN_PAPER, ...stripUndefined(input) } : input;
  return normalizeTrainJob('align', ALIGN_OPTIONS, withPreset, onSession, { data: 'no data given (--data PATH)' });
}

/** Aligns a model: opens a session for it, trains, saves the adapter in `out`, closes the session. */
export async function align(input: Partial<AlignOptions>, cb: AlignCallbacks = {}): Promise<AlignResult> {
  const o = normalizeAlignOptions(input);
  return withJobSession(o, (m) => cb.onLog?.(m), (session) => run(session, o, cb));
}

/**
 * Aligns the model of a session the caller holds (and closes): the base weights are set to the
 * model with --merge-adapter merged (or none), and the session's model is left that way.
 */
export async function alignOn(session: Session, input: Partial<AlignOptions>, cb: AlignCallbacks = {}): Promise<AlignResult> {
  return run(session, normalizeAlignOptions(input, true), cb);
}

async function run(session: Session, o: AlignValues & { out: string }, cb: AlignCallbacks): Promise<AlignResult> {
  const log = (m: string) => cb.onLog?.(m);
  const data = prepareData(o.data!, session.tokenizer, session.config, o, log);
  o.maxLength = data.maxLength; // the length used enters the fingerprint
  const unsafe = data.rows.filter((r) => r.isSafe === false);
  if (unsafe.length > 0) {
    log(`warning: ${unsafe.length} of ${data.rows.length} rows are marked is_safe: false (the first at line ${unsafe[0].line}):`
      + ' alignment data should hold safe answers; is this the harmful set?');
  }
  return runTrainJob(session, o, { data, step: alignStep(o.method, o.rho), method: o.method, table: ALIGN_OPTIONS }, cb as TrainCallbacks);
}

/** What alignInMemory takes: align's options without the files (the model, tokenizer and data are given). */
export type InMemoryAlignOptions = Omit<Partial<AlignOptions>, 'model' | 'tokenizer' | 'data' | 'out' | 'backend' | 'threads' | 'webgpuLib'
  | 'weights' | 'overwrite' | 'resume' | 'saveEvery' | 'saveTotalLimit' | 'initAdapter' | 'mergeAdapter' | 'preset'>;

/**
 * Aligns `model` with no files (the web page's run): the rows are encoded with `tokenizer` and
 * trained on as align() trains on them (the same data order, adapter, optimizer, schedule and
 * step), and the new adapter is left attached to the model and returned (the caller disposes
 * it). The same options, model and rows give align()'s losses.
 */
export async function alignInMemory(model: CausalLM, tokenizer: Tokenizer, rows: readonly Record<string, unknown>[], input: InMemoryAlignOptions,
  cb: { onStep?(m: StepMetrics, totalSteps: number): void | Promise<void>; onLog?(message: string): void; signal?: AbortSignal } = {}): Promise<InMemoryResult> {
  const o = normalizeOptions(ALIGN_OPTIONS, { ...input, data: [...rows] as Record<string, unknown>[] });
  const data = prepareData(o.data!, tokenizer, model.config, o, (m) => cb.onLog?.(m));
  return trainInMemory({ model, data, step: alignStep(o.method, o.rho), settings: o }, cb);
}
