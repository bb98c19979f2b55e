// ReLU (out = max(x, 0)) over Tensors: shape checks, then the backend op.
import { Tensor, expectDType, expectShape } from '../tensor.ts';

export function relu(out: Tensor, x: Tensor): void {
  expectDType('relu x', x, 'f32');
  expectDType('relu out', out, 'f32');
  expectShape('relu out', out, x.shape);
  if (x.size > 0) x.backend.relu(out.buf, x.buf, x.size);
}

/** Writes dX = dY where the forward's input x > 0, else 0. */
export function reluBackward(dx: Tensor, dy: Tensor, x: Tensor): void {
  for (const [n, t] of [['dx', dx], ['dy', dy], ['x', x]] as const) {
    expectDType(`reluBackward ${n}`, t, 'f32');
    expectShape(`reluBackward ${n}`, t, x.shape);
  }
  if (x.size > 0) x.backend.reluBackward(dx.buf, dy.buf, x.buf, x.size);
}
