// What a LoRA training job (align, finetune) does around the trainer, written once: checking its
// options (with a session handed in or not), opening its session, setting the session's base
// (--merge-adapter) and running train() with the job's data and step function. A job module
// (align.ts, finetune.ts) keeps only its own options, its data and its step.
import type { PreparedData } from './dataset.ts';
import { InputError } from './errors.ts';
import { fingerprintOf, normalizeOptions, type OptionInputs, type OptionTable, type OptionValues } from './options.ts';
import { Session, type SessionOptions } from './session.ts';
import { train, type StepFunction, type TrainCallbacks, type TrainResult } from './trainer.ts';
import { checkTrainValues, type TrainValues } from './train-options.ts';

/** The options that belong to a session: a job handed a session must not name them. */
export const SESSION_KEYS = ['model', 'tokenizer', 'backend', 'threads', 'webgpuLib', 'weights', 'profile'] as const;

/**
 * Checks and completes a training job's options; throws InputError naming the bad option.
 * `required` maps each option that must be given to the words of its message (e.g.
 * `data: 'no data given (--data PATH)'`). With `onSession` the options are for a session the
 * caller holds (`${job}On`), so they must not name its model, tokenizer, backend, threads, webgpu library, weights or profile.
 */
export function normalizeTrainJob<T extends OptionTable>(job: string, table: T, input: Partial<OptionInputs<T>>, onSession: boolean,
  required: Record<string, string>): OptionValues<T> & { out: string } {
  const given = input as Record<string, unknown>;
  if (onSession) {
    const named = SESSION_KEYS.filter((k) => given[k] !== undefined);
    if (named.length > 0) throw new InputError(`${job}On: ${named.join(', ')} ${named.length === 1 ? 'is' : 'are'} the session's; do not pass ${named.length === 1 ? 'it' : 'them'} with a session`);
  }
  if (!onSession && !given.model) throw new InputError('no model given (--model PATH)');
  for (const [key, message] of Object.entries(required)) if (!given[key]) throw new InputError(message);
  if (!given.out) throw new InputError('no output directory given (--out DIR)');
  const o = normalizeOptions(table, input) as OptionValues<T> & TrainValues & { out: string };
  if (o.weights === 'f16' && o.mergeAdapter) throw new InputError('--merge-adapter needs f32 weights (merging into f16-stored weights is not supported)');
  if (typeof o.model === 'object' && typeof o.tokenizer !== 'object') throw new InputError('a model given in memory needs its tokenizer object (options.tokenizer)');
  checkTrainValues(o); // --out must not hold another run (unless --overwrite or --resume)
  return o;
}

/** A job's options that describe its session. */
export type SessionValues = Pick<TrainValues, typeof SESSION_KEYS[number]>;

/** The session a job's options describe (model, tokenizer, backend, threads, webgpu library, weights, profile). */
export function sessionOptionsOf(o: SessionValues, log: (m: string) => void): SessionOptions {
  return { model: o.model!, tokenizer: o.tokenizer, backend: o.backend, threads: o.threads, webgpuLib: o.webgpuLib, weights: o.weights, profile: o.profile, log };
}

/**
 * Opens a session for a one-shot job, runs `fn` on it and closes it. The options stop holding the
 * model once it is uploaded, so a caller's in-memory weights can be collected. With --profile the
 * trace is written (and its table logged) when fn succeeds.
 */
export async function withJobSession<R>(o: SessionValues,
  log: (m: string) => void, fn: (s: Session) => Promise<R>): Promise<R> {
  const session = await Session.open(sessionOptionsOf(o, log));
  o.model = undefined;
  try {
    const r = await fn(session);
    await session.writeProfile();
    return r;
  } finally {
    await session.close();
  }
}

/** What a job hands the trainer besides its options. */
export interface TrainJobParts {
  data: PreparedData;
  step: StepFunction;
  /** shown in onStart (align: the method; finetune: 'finetune') */
  method: string;
  /** the job's option table: its fingerprint entries decide whether a checkpoint may be resumed */
  table: OptionTable;
}

/**
 * Sets the session's base to the model with --merge-adapter merged (or none) and trains. The
 * session's model is left with that base.
 */
export async function runTrainJob(session: Session, o: Omit<TrainValues, 'data'> & { out: string }, parts: TrainJobParts,
  cb: TrainCallbacks): Promise<TrainResult> {
  await session.setMerged(o.mergeAdapter ? [o.mergeAdapter] : []);
  o.weights = session.weightDtype; // a handed session decides the storage
  return train({
    session, data: parts.data, step: parts.step, settings: o, method: parts.method, fingerprint: fingerprintOf(parts.table, o),
  }, cb);
}
