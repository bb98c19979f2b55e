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
import { InputError } from './errors.ts';
import { fingerprintOf, normalizeOptions, opt, optionDefaults, range, type OptionInputs, type OptionValues } from './options.ts';
import { Session, type SessionOptions } from './session.ts';
import { train, type StepFunction, type TrainCallbacks, type TrainResult, type TrainStartInfo } from './trainer.ts';
import { checkTrainValues, TRAIN_OPTIONS } from './train-options.ts';

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

/** The session's part of the options. */
const SESSION_KEYS = ['model', 'tokenizer', 'backend', 'threads', 'webgpuLib', 'weights'] as const;

/**
 * Validates and completes options; throws InputError naming the bad option. With `onSession`,
 * the options are for a session the caller already holds, so they must not name its model,
 * tokenizer, backend, threads or weights.
 */
export function normalizeAlignOptions(input: Partial<AlignOptions>, onSession = false): AlignValues & { out: string } {
  if (onSession) {
    const given = SESSION_KEYS.filter((k) => input[k] !== undefined);
    if (given.length > 0) throw new InputError(`alignOn: ${given.join(', ')} ${given.length === 1 ? 'is' : 'are'} the session's; do not pass ${given.length === 1 ? 'it' : 'them'} with a session`);
  }
  if (!onSession && !input.model) throw new InputError('no model given (--model PATH)');
  if (!input.data) throw new InputError('no data given (--data PATH)');
  if (!input.out) throw new InputError('no output directory given (--out DIR)');
  const o = normalizeOptions(ALIGN_OPTIONS, input);
  if (o.weights === 'f16' && o.mergeAdapter) throw new InputError('--merge-adapter needs f32 weights (merging into f16-stored weights is not supported)');
  if (typeof o.model === 'object' && typeof o.tokenizer !== 'object') throw new InputError('a model given in memory needs its tokenizer object (options.tokenizer)');
  checkTrainValues(o as AlignValues & { out: string });
  return o as AlignValues & { out: string };
}

/** Opens a session for the options (model, tokenizer, backend, threads, weights). */
function sessionOptions(o: AlignValues, log: (m: string) => void): SessionOptions {
  return { model: o.model!, tokenizer: o.tokenizer, backend: o.backend, threads: o.threads, webgpuLib: o.webgpuLib, weights: o.weights, log };
}

/** Aligns a model: opens a session for it, trains, saves the adapter in `out`, closes the session. */
export async function align(input: Partial<AlignOptions>, cb: AlignCallbacks = {}): Promise<AlignResult> {
  const o = normalizeAlignOptions(input);
  const session = await Session.open(sessionOptions(o, (m) => cb.onLog?.(m)));
  // the session holds the model now; the options must not keep a caller's in-memory weights alive
  o.model = undefined;
  try {
    return await run(session, o, cb);
  } finally {
    await session.close();
  }
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
  await session.setMerged(o.mergeAdapter ? [o.mergeAdapter] : []);
  o.weights = session.weightDtype; // a handed session decides the storage
  return train({
    session, data, step: alignStep(o.method, o.rho), settings: o, method: o.method,
    fingerprint: fingerprintOf(ALIGN_OPTIONS, o),
  }, cb as TrainCallbacks);
}
