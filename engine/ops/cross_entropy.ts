// Per-row cross-entropy over logits [N, V] with integer labels: shape checks, then the backend op.
// Labels equal to IGNORE_INDEX (and, defensively, any label outside [0, V)) give loss 0 and a
// zero gradient row.
import type { Backend } from '../backend.ts';
import { Tensor, expectDType, expectShape } from '../tensor.ts';

export const IGNORE_INDEX = -100;

function dims(what: string, logits: Tensor, labels: Tensor): [number, number] {
  expectDType(`${what} logits`, logits, 'f32');
  expectDType(`${what} labels`, labels, 'i32');
  if (logits.shape.length !== 2) throw new Error(`${what}: logits must be [N, V], got [${logits.shape.join(', ')}]`);
  const [N, V] = logits.shape;
  expectShape(`${what} labels`, labels, [N]);
  return [N, V];
}

/** lse[i] = logsumexp(logits_i), loss[i] = lse[i] - logits_i[labels[i]] (both written). */
export function crossEntropy(loss: Tensor, lse: Tensor, logits: Tensor, labels: Tensor): void {
  const [N, V] = dims('crossEntropy', logits, labels);
  for (const [what, t] of [['loss', loss], ['lse', lse]] as const) {
    expectDType(`crossEntropy ${what}`, t, 'f32');
    expectShape(`crossEntropy ${what}`, t, [N]);
  }
  logits.backend.crossEntropy(loss.buf, lse.buf, logits.buf, labels.buf, N, V);
}

/** New [N] tensors of per-row losses and log-sum-exps (the backward's input); the caller disposes them. */
export function crossEntropyLoss(logits: Tensor, labels: Tensor): { loss: Tensor; lse: Tensor } {
  const backend: Backend = logits.backend;
  const loss = Tensor.zeros(backend, [logits.shape[0] ?? 0]);
  const lse = Tensor.zeros(backend, [logits.shape[0] ?? 0]);
  try {
    crossEntropy(loss, lse, logits, labels);
  } catch (e) {
    loss.dispose();
    lse.dispose();
    throw e;
  }
  return { loss, lse };
}

/**
 * dLogits = scale * (softmax(logits) - onehot(label)) (written), from the forward's lse. dLogits
 * may be logits itself: the gradient then overwrites the logits.
 */
export function crossEntropyBackward(dLogits: Tensor, logits: Tensor, lse: Tensor, labels: Tensor, scale: number): void {
  const [N, V] = dims('crossEntropyBackward', logits, labels);
  expectDType('crossEntropyBackward dLogits', dLogits, 'f32');
  expectShape('crossEntropyBackward dLogits', dLogits, [N, V]);
  expectShape('crossEntropyBackward lse', lse, [N]);
  logits.backend.crossEntropyBackward(dLogits.buf, logits.buf, lse.buf, labels.buf, N, V, scale);
}
