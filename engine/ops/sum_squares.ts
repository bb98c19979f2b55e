// Sums of squares over Tensors, for global gradient norms (clipping, Vaccine's perturbation).
import { Tensor, expectDType } from '../tensor.ts';

/** out[0] += sum over every tensor of sum_i x[i]^2 (out is a 1-element f32 tensor; zero it first for a fresh sum). */
export function sumSquares(out: Tensor, ...tensors: Tensor[]): void {
  expectDType('sumSquares out', out, 'f32');
  if (out.size !== 1) throw new Error(`sumSquares: out must hold 1 value, got shape [${out.shape.join(', ')}]`);
  for (const t of tensors) {
    expectDType('sumSquares input', t, 'f32');
    if (t.size > 0) out.backend.sumSquares(out.buf, t.buf, t.size);
  }
}
