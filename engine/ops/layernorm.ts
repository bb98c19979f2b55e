// LayerNorm with weight and bias (torch.nn.LayerNorm over the last dimension, f32) over Tensors:
// shape checks, then the backend op. The backward gives dX only: the model families that use it
// (OPT) keep their norms frozen, since LoRA trains the adapters alone.
import { Tensor, expectDType, expectShape } from '../tensor.ts';

function rowsAndWidth(what: string, x: Tensor): [number, number] {
  if (x.shape.length < 1) throw new Error(`${what}: x must have at least one dimension`);
  const D = x.shape[x.shape.length - 1];
  return [D === 0 ? 0 : x.size / D, D];
}

function perRow(what: string, t: Tensor, rows: number): void {
  if (t.size !== rows) throw new Error(`${what} must hold ${rows} values, got ${t.size}`);
}

/** out = (x - mean) * rstd * w + b over the last dimension; writes mean and rstd [rows] for the backward. */
export function layernorm(out: Tensor, mean: Tensor, rstd: Tensor, x: Tensor, w: Tensor, b: Tensor, eps: number): void {
  for (const [n, t] of [['out', out], ['mean', mean], ['rstd', rstd], ['x', x], ['w', w], ['b', b]] as const) expectDType(`layernorm ${n}`, t, 'f32');
  const [rows, D] = rowsAndWidth('layernorm', x);
  expectShape('layernorm out', out, x.shape);
  expectShape('layernorm w', w, [D]);
  expectShape('layernorm b', b, [D]);
  perRow('layernorm: mean', mean, rows);
  perRow('layernorm: rstd', rstd, rows);
  if (!(eps > 0)) throw new Error(`layernorm: eps must be > 0, got ${eps}`);
  if (rows > 0) x.backend.layernorm(out.buf, mean.buf, rstd.buf, x.buf, w.buf, b.buf, rows, D, eps);
}

/** Writes dX from the forward's x, mean and rstd (the bias does not enter the gradient). */
export function layernormBackward(dx: Tensor, dy: Tensor, x: Tensor, w: Tensor, mean: Tensor, rstd: Tensor): void {
  for (const [n, t] of [['dx', dx], ['dy', dy], ['x', x], ['w', w], ['mean', mean], ['rstd', rstd]] as const) {
    expectDType(`layernormBackward ${n}`, t, 'f32');
  }
  const [rows, D] = rowsAndWidth('layernormBackward', x);
  expectShape('layernormBackward dx', dx, x.shape);
  expectShape('layernormBackward dy', dy, x.shape);
  expectShape('layernormBackward w', w, [D]);
  perRow('layernormBackward: mean', mean, rows);
  perRow('layernormBackward: rstd', rstd, rows);
  if (rows > 0) x.backend.layernormBackward(dx.buf, dy.buf, x.buf, w.buf, mean.buf, rstd.buf, rows, D);
}
