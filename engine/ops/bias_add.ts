// Bias-add over Tensors: y[..., :] += b, a linear layer's bias added into its product. Forward
// only: the gradient into y passes through unchanged, and model biases are frozen.
import { Tensor, expectDType, expectShape } from '../tensor.ts';

/** y [..., D] += b [D] on every row. */
export function biasAdd(y: Tensor, b: Tensor): void {
  expectDType('biasAdd y', y, 'f32');
  expectDType('biasAdd b', b, 'f32');
  if (y.shape.length < 1) throw new Error('biasAdd: y must have at least one dimension');
  const D = y.shape[y.shape.length - 1];
  expectShape('biasAdd b', b, [D]);
  const rows = D === 0 ? 0 : y.size / D;
  if (rows > 0) y.backend.biasAdd(y.buf, b.buf, rows, D);
}
