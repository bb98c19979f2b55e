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

/** loss[i] = logsumexp(logits_i) - logits_i[labels[i]] (written). */
export function crossEntropy(loss: Tensor, logits: Tensor, labels: Tensor): void {
  const [N, V] = dims('crossEntropy', logits, labels);
  expectDType('crossEntropy loss', loss, 'f32');
  expectShape('crossEntropy loss', loss, [N]);
  logits.backend.crossEntropy(loss.buf, logits.buf, labels.buf, N, V);
}

/** A new [N] tensor of per-row losses (the caller disposes it). */
export function crossEntropyLoss(logits: Tensor, labels: Tensor): Tensor {
  const backend: Backend = logits.backend;
  const loss = Tensor.zeros(backend, [logits.shape[0] ?? 0]);
  try {
    crossEntropy(loss, logits, labels);
  } catch (e) {
    loss.dispose();
    throw e;
  }
  return loss;
}

/** dLogits = scale * (softmax(logits) - onehot(label)) (written). */
export function crossEntropyBackward(dLogits: Tensor, logits: Tensor, labels: Tensor, scale: number): void {
  const [N, V] = dims('crossEntropyBackward', logits, labels);
  expectDType('crossEntropyBackward dLogits', dLogits, 'f32');
  expectShape('crossEntropyBackward dLogits', dLogits, [N, V]);
  logits.backend.crossEntropyBackward(dLogits.buf, logits.buf, labels.buf, N, V, scale);
}
