// Catching non-finite values (NaN, +-Inf) in a training step, cheaply. The loss is a number the
// step already read back; the gradients' norm is the one clipping computes anyway (a NaN or Inf in
// any gradient propagates into that sum); the updated weights cost one more device-side sum of
// squares and a 4-byte read per step. Only when one of these sums is not finite are the tensors
// read back, to name the first one that holds a non-finite value.
import { Arena } from '../arena.ts';
import type { Backend } from '../backend.ts';
import { sumSquares } from '../ops/sum_squares.ts';
import { Tensor } from '../tensor.ts';

/** What to do when a step's loss or gradients are not finite: stop the run, or drop that step's update. */
export type NonFinitePolicy = 'stop' | 'skip';
export const NONFINITE_POLICIES: readonly NonFinitePolicy[] = ['stop', 'skip'];

/**
 * A training run stopped because a value went non-finite (exit code 1: the input was fine, the run
 * diverged). `step` is the 1-based optimizer step, `what` the first value found non-finite.
 */
export class NonFiniteError extends Error {
  readonly exitCode = 1;
  constructor(readonly step: number, readonly what: string, message: string) {
    super(message);
    this.name = 'NonFiniteError';
  }
}

/** The sum of squares of every element of `tensors` (f32 on the device: Inf when a value is Inf or above ~1.8e19, NaN when one is NaN). */
export async function sumOfSquares(backend: Backend, tensors: readonly Tensor[]): Promise<number> {
  const sum = Arena.of(backend).zeros([1]);
  try {
    sumSquares(sum, ...tensors);
    return (await sum.read())[0];
  } finally { sum.dispose(); }
}

/**
 * Why a sum of squares over `tensors` (named `names`) was not finite, as "<what> are not finite:
 * NAME is NaN at element i" for the first tensor (in order) holding a NaN or an Inf; when none
 * does, their squares overflowed f32: "<what> diverged: NAME reaches X (...)" for the largest.
 */
export async function describeNonFinite(what: string, tensors: readonly Tensor[], names: readonly string[]): Promise<string> {
  let big = { name: '', value: 0 };
  for (let i = 0; i < tensors.length; i++) {
    const x = await tensors[i].toFloat32();
    for (let j = 0; j < x.length; j++) {
      const v = x[j];
      if (!Number.isFinite(v)) return `${what} are not finite: ${names[i]} is ${v} at element ${j}`;
      if (Math.abs(v) > Math.abs(big.value)) big = { name: names[i], value: v };
    }
  }
  return `${what} diverged: ${big.name} reaches ${big.value.toExponential(3)} (finite, but beyond 1.8e19: the sum of their squares overflows f32)`;
}

/** JSON for a metrics line: non-finite numbers are written as the strings "NaN", "Infinity", "-Infinity", never as null. */
export function metricsJson(m: object): string {
  return JSON.stringify(m, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}
