// Elementwise helpers over Tensors: copy, fill, axpy, scale and scaleByInverseNorm.
import { Tensor, expectDType } from '../tensor.ts';

function sameSize(what: string, a: Tensor, b: Tensor): void {
  expectDType(`${what}`, a, 'f32');
  expectDType(`${what}`, b, 'f32');
  if (a.size !== b.size) throw new Error(`${what}: sizes differ: [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
}

/** dst[i] = src[i] over the whole of both (same size and dtype; either may be a view). */
export function copy(dst: Tensor, src: Tensor): void {
  if (dst.dtype !== src.dtype) throw new Error(`copy: dtypes differ: ${dst.dtype} and ${src.dtype}`);
  if (dst.size !== src.size) throw new Error(`copy: sizes differ: [${dst.shape.join(', ')}] and [${src.shape.join(', ')}]`);
  if (dst.size > 0) dst.backend.copy(dst.buf, src.buf, dst.size);
}

/** t[i] = value */
export function fill(t: Tensor, value: number): void {
  expectDType('fill', t, 'f32');
  if (t.size > 0) t.backend.fill(t.buf, value, t.size);
}

/** y[i] += alpha * x[i] */
export function axpy(y: Tensor, x: Tensor, alpha: number): void {
  sameSize('axpy', y, x);
  if (y.size > 0) y.backend.axpy(y.buf, x.buf, alpha, y.size);
}

/** out[i] = alpha * x[i] (out may be x) */
export function scale(out: Tensor, x: Tensor, alpha: number): void {
  sameSize('scale', out, x);
  if (out.size > 0) out.backend.scale(out.buf, x.buf, alpha, out.size);
}

/** out[i] = x[i] * rho / (sqrt(sumSq[0]) + eps): normalise by a global norm held on the device. */
export function scaleByInverseNorm(out: Tensor, x: Tensor, sumSq: Tensor, rho: number, eps: number): void {
  sameSize('scaleByInverseNorm', out, x);
  expectDType('scaleByInverseNorm sumSq', sumSq, 'f32');
  if (sumSq.size !== 1) throw new Error(`scaleByInverseNorm: sumSq must hold 1 value, got shape [${sumSq.shape.join(', ')}]`);
  if (out.size > 0) out.backend.scaleByInverseNorm(out.buf, x.buf, sumSq.buf, rho, eps, out.size);
}
