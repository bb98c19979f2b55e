// The one error type for "your input is wrong" in every job (options, data, model, adapter): the
// command lines print its message on one line and exit with code 2; a library caller can test
// `e instanceof InputError` or read `e.exitCode`. Anything else that escapes a job is a failure
// (exit code 1).
import { AdapterError } from '../adapter.ts';
import { DataError } from '../data.ts';

export class InputError extends Error {
  readonly exitCode = 2;
  constructor(message: string) { super(message); this.name = 'InputError'; }
}

/** The name this type had when only the alignment job existed; the same class. */
export const AlignInputError = InputError;
export type AlignInputError = InputError;

/** The error as an InputError when it means bad input (the engine's DataError, AdapterError), else as it is. */
export function asInputError(e: unknown): unknown {
  if (e instanceof InputError) return e;
  if (e instanceof AdapterError || e instanceof DataError) return new InputError(e.message);
  return e;
}

/**
 * Runs fn, for steps where any failure means the input is wrong (reading a model, a tokenizer, an
 * adapter the user named): every error becomes an InputError with the same message.
 */
export async function asInput<T>(fn: () => T | Promise<T>): Promise<T> {
  try { return await fn(); } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError((e as Error).message);
  }
}
