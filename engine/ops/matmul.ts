// Matrix products over Tensors: shape checks, then Backend.matmul. The backward of a product is
// two more products with other transposition flags (matmulBackward), so no op has its own kernel.
import { Tensor, expectDType, expectShape } from '../tensor.ts';

export interface MatmulOptions {
  /** a is stored [K, M] and used transposed */
  transA?: boolean;
  /** b is stored [N, K] (nn.Linear weight layout) and used transposed */
  transB?: boolean;
  alpha?: number;
  /** 0 (default) overwrites c; 1 adds into it */
  beta?: number;
}

function matrix(what: string, t: Tensor): [number, number] {
  expectDType(what, t, 'f32');
  if (t.shape.length !== 2) throw new Error(`${what}: expected a 2-D tensor, got shape [${t.shape.join(', ')}]`);
  return [t.shape[0], t.shape[1]];
}

/** c[M,N] = alpha * op(a) op(b) + beta * c, with M, N, K read from the shapes. */
export function matmul(c: Tensor, a: Tensor, b: Tensor, opts: MatmulOptions = {}): void {
  const transA = opts.transA ?? false, transB = opts.transB ?? false;
  const [a0, a1] = matrix('matmul a', a), [b0, b1] = matrix('matmul b', b);
  const [M, K] = transA ? [a1, a0] : [a0, a1];
  const [Kb, N] = transB ? [b1, b0] : [b0, b1];
  if (K !== Kb) {
    throw new Error(`matmul: inner dimensions differ: op(a) is [${M}, ${K}], op(b) is [${Kb}, ${N}] `
      + `(a [${a.shape.join(', ')}]${transA ? '^T' : ''}, b [${b.shape.join(', ')}]${transB ? '^T' : ''})`);
  }
  matrix('matmul c', c);
  expectShape('matmul c', c, [M, N]);
  c.backend.matmul(c.buf, a.buf, b.buf, { M, N, K, transA, transB, alpha: opts.alpha ?? 1, beta: opts.beta ?? 0 });
}

/**
 * Gradients of loss(c) with c = alpha * op(a) op(b), given dc: dA (shaped like a) and dB (shaped
 * like b), either of which may be null. accumulate adds into them instead of overwriting.
 */
export function matmulBackward(dA: Tensor | null, dB: Tensor | null, dc: Tensor, a: Tensor, b: Tensor,
  opts: { transA?: boolean; transB?: boolean; alpha?: number; accumulate?: boolean } = {}): void {
  const transA = opts.transA ?? false, transB = opts.transB ?? false;
  const alpha = opts.alpha ?? 1, beta = opts.accumulate ? 1 : 0;
  if (dA) {
    expectShape('matmulBackward dA', dA, a.shape);
    // op(a)' = dc op(b)^T; stored transposed when transA.
    if (!transA) matmul(dA, dc, b, { transB: !transB, alpha, beta });
    else matmul(dA, b, dc, { transA: transB, transB: true, alpha, beta });
  }
  if (dB) {
    expectShape('matmulBackward dB', dB, b.shape);
    // op(b)' = op(a)^T dc; stored transposed when transB.
    if (!transB) matmul(dB, a, dc, { transA: !transA, alpha, beta });
    else matmul(dB, dc, a, { transA: true, transB: transA, alpha, beta });
  }
}

function rowsOf(what: string, t: Tensor, width: number): number {
  expectDType(what, t, 'f32');
  if (t.shape.length < 1 || t.shape[t.shape.length - 1] !== width) {
    throw new Error(`${what}: expected last dimension ${width}, got shape [${t.shape.join(', ')}]`);
  }
  return width === 0 ? 0 : t.size / width;
}

/**
 * c[M,N] = alpha * a[M,K] op(w) + beta * c with w a weight that may be stored as f16 (on a backend
 * with f16 storage): the one place that picks matmulF16B for such weights.
 */
function weightProduct(c: Tensor, a: Tensor, w: Tensor, M: number, N: number, K: number, transB: boolean, beta: number): void {
  const p = { M, N, K, transA: false, transB, alpha: 1, beta };
  if (w.dtype === 'f16') {
    const be = c.backend;
    if (!be.matmulF16B) throw new Error(`linear: an f16 weight needs a backend with f16 storage; ${be.name} has none`);
    be.matmulF16B(c.buf, a.buf, w.buf, p);
  } else {
    c.backend.matmul(c.buf, a.buf, w.buf, p);
  }
}

function weightDims(what: string, w: Tensor): [number, number] {
  if (w.dtype !== 'f16') return matrix(what, w);
  if (w.shape.length !== 2) throw new Error(`${what}: expected a 2-D tensor, got shape [${w.shape.join(', ')}]`);
  return [w.shape[0], w.shape[1]];
}

/**
 * y[..., out] = x[..., in] w^T (+ beta * y), w [out, in] (nn.Linear, no bias). w may be f16
 * (frozen weights on a backend with f16 storage); compute is f32.
 */
export function linear(y: Tensor, x: Tensor, w: Tensor, beta = 0): void {
  const [outF, inF] = weightDims('linear w', w);
  const T = rowsOf('linear x', x, inF);
  expectDType('linear y', y, 'f32');
  expectShape('linear y', y, [...x.shape.slice(0, -1), outF]);
  weightProduct(y, x, w, T, outF, inF, true, beta);
}

/**
 * Backward of linear: dX = dY w (written, or added into with accumulateDx) and, when dW is given,
 * dW += dY^T x. x is only read for dW; its shape fixes the rows.
 */
export function linearBackward(dx: Tensor | null, dw: Tensor | null, dy: Tensor, x: Tensor, w: Tensor,
  accumulateDx = false): void {
  const [outF, inF] = weightDims('linearBackward w', w);
  const T = rowsOf('linearBackward x', x, inF);
  expectShape('linearBackward dy', dy, [...x.shape.slice(0, -1), outF]);
  if (dx) {
    expectDType('linearBackward dx', dx, 'f32');
    expectShape('linearBackward dx', dx, x.shape);
    weightProduct(dx, dy, w, T, inF, outF, false, accumulateDx ? 1 : 0);
  }
  if (dw) {
    expectDType('linearBackward dw', dw, 'f32');
    expectShape('linearBackward dw', dw, w.shape);
    dw.backend.matmul(dw.buf, dy.buf, x.buf, { M: outF, N: inF, K: T, transA: true, transB: false, alpha: 1, beta: 1 });
  }
}
