// RMSNorm (Hugging Face LlamaRMSNorm, f32) over Tensors: shape checks, then the backend op.
import { Tensor, expectDType, expectShape } from '../tensor.ts';

function rowsAndWidth(what: string, x: Tensor): [number, number] {
  if (x.shape.length < 1) throw new Error(`${what}: x must have at least one dimension`);
  const D = x.shape[x.shape.length - 1];
  return [D === 0 ? 0 : x.size / D, D];
}

/** out = x * rstd * w over the last dimension; writes rstd [rows] for the backward. */
export function rmsnorm(out: Tensor, rstd: Tensor, x: Tensor, w: Tensor, eps: number): void {
  for (const [n, t] of [['out', out], ['rstd', rstd], ['x', x], ['w', w]] as const) expectDType(`rmsnorm ${n}`, t, 'f32');
  const [rows, D] = rowsAndWidth('rmsnorm', x);
  expectShape('rmsnorm out', out, x.shape);
  expectShape('rmsnorm w', w, [D]);
  if (rstd.size !== rows) throw new Error(`rmsnorm: rstd must hold ${rows} values, got ${rstd.size}`);
  x.backend.rmsnorm(out.buf, rstd.buf, x.buf, w.buf, rows, D, eps);
}

/** Writes dX; adds into dW when given. */
export function rmsnormBackward(dx: Tensor, dw: Tensor | null, dy: Tensor, x: Tensor, w: Tensor, rstd: Tensor): void {
  for (const [n, t] of [['dx', dx], ['dy', dy], ['x', x], ['w', w], ['rstd', rstd]] as const) expectDType(`rmsnormBackward ${n}`, t, 'f32');
  const [rows, D] = rowsAndWidth('rmsnormBackward', x);
  expectShape('rmsnormBackward dx', dx, x.shape);
  expectShape('rmsnormBackward dy', dy, x.shape);
  expectShape('rmsnormBackward w', w, [D]);
  if (dw) { expectDType('rmsnormBackward dw', dw, 'f32'); expectShape('rmsnormBackward dw', dw, [D]); }
  if (rstd.size !== rows) throw new Error(`rmsnormBackward: rstd must hold ${rows} values, got ${rstd.size}`);
  x.backend.rmsnormBackward(dx.buf, dw ? dw.buf : null, dy.buf, x.buf, w.buf, rstd.buf, rows, D);
}
