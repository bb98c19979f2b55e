// Rotary position embedding over Tensors, and the cos/sin tables it reads.
import { Arena } from '../arena.ts';
import type { Backend } from '../backend.ts';
import { Tensor, expectDType, expectShape } from '../tensor.ts';
import { embedding } from './embedding.ts';

export interface RopeTables {
  /** [maxPos, hd/2]: entry [pos, j] = cos(pos * inv_freq[j]) */
  cos: Tensor;
  sin: Tensor;
}

/**
 * The cos/sin tables, computed on the host with the same f32 roundings as Hugging Face's
 * LlamaRotaryEmbedding (PyTorch, f32):
 *   inv_freq = 1.0 / (theta ** (arange(0, hd, 2).float() / hd))   each op rounded to f32
 *   freqs    = pos.float() * inv_freq                              (an f32 product)
 *   cos/sin  = freqs.cos() / freqs.sin()                            (f32 results)
 * Math.fround after every step reproduces those roundings; Math.pow/cos/sin are evaluated in f64
 * and rounded once, which can differ from PyTorch's f32 kernels by at most 1 ulp.
 * Hugging Face duplicates the table (cat(freqs, freqs)) for rotate-half; we keep the hd/2 unique
 * columns. llama2.c uses the same frequencies, freq_j = 1/theta^(2j/hd), on the pairs (2j, 2j+1).
 */
export function ropeTableValues(maxPos: number, hd: number, theta = 10000): { cos: Float32Array; sin: Float32Array } {
  if (hd % 2 !== 0) throw new Error(`ropeTables: head dim ${hd} must be even`);
  const half = hd / 2;
  const f = Math.fround;
  const invFreq = new Float32Array(half);
  for (let j = 0; j < half; j++) invFreq[j] = f(1 / f(Math.pow(f(theta), f(f(2 * j) / f(hd)))));
  const cos = new Float32Array(maxPos * half), sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let j = 0; j < half; j++) {
      const angle = f(f(p) * invFreq[j]);
      cos[p * half + j] = f(Math.cos(angle));
      sin[p * half + j] = f(Math.sin(angle));
    }
  }
  return { cos, sin };
}

/** The same tables, uploaded to `backend`. */
export function ropeTables(backend: Backend, maxPos: number, hd: number, theta = 10000): RopeTables {
  const { cos, sin } = ropeTableValues(maxPos, hd, theta);
  return { cos: Tensor.from(backend, [maxPos, hd / 2], cos), sin: Tensor.from(backend, [maxPos, hd / 2], sin) };
}

/**
 * The tables' rows at `positions` (i32 [N], each inside the tables): new [N, hd/2] tables from
 * the backend's arena (the caller disposes them; `key`: the prefix of their arena keys) under which rope over x [1, N, H, hd] with pos0 0 rotates row i by
 * positions[i]. Sequences that sit at different positions (a batch of prompts being decoded)
 * share one rope call this way. The rows are copies: the rotation is bit-identical to the one
 * the full tables give.
 */
export function gatherRopeTables(tables: RopeTables, positions: Tensor, key?: string): RopeTables {
  expectDType('gatherRopeTables positions', positions, 'i32');
  expectShape('gatherRopeTables positions', positions, [-1]);
  const be = tables.cos.backend, rows = [positions.shape[0], tables.cos.shape[1]];
  const cos = Arena.of(be).take(rows, 'f32', key && key + 'cos'), sin = Arena.of(be).take(rows, 'f32', key && key + 'sin');
  try {
    embedding(cos, tables.cos, positions);
    embedding(sin, tables.sin, positions);
  } catch (e) {
    cos.dispose(); sin.dispose();
    throw e;
  }
  return { cos, sin };
}

export interface RopeOptions {
  /** position of row 0 of every sequence (a KV cache's fill level when decoding) */
  pos0: number;
  /** pairs (2j, 2j+1) as llama2.c; otherwise (j, j + hd/2) as Hugging Face's rotate_half */
  interleaved: boolean;
  /** rotate by -angle: the backward */
  inverse?: boolean;
}

/** In place on x [B, T, H, hd]: row t of each sequence sits at position pos0 + t. */
export function rope(x: Tensor, tables: RopeTables, o: RopeOptions): void {
  expectDType('rope x', x, 'f32');
  if (x.shape.length !== 4) throw new Error(`rope: x must be [B, T, H, hd], got [${x.shape.join(', ')}]`);
  const [B, T, H, hd] = x.shape;
  if (hd % 2 !== 0) throw new Error(`rope: head dim ${hd} must be even`);
  expectDType('rope cos', tables.cos, 'f32');
  expectDType('rope sin', tables.sin, 'f32');
  expectShape('rope cos', tables.cos, [-1, hd / 2]);
  expectShape('rope sin', tables.sin, tables.cos.shape);
  const maxPos = tables.cos.shape[0];
  if (!Number.isInteger(o.pos0) || o.pos0 < 0 || o.pos0 + T > maxPos) {
    throw new Error(`rope: positions ${o.pos0}..${o.pos0 + T - 1} exceed the tables' ${maxPos} positions`);
  }
  x.backend.rope(x.buf, tables.cos.buf, tables.sin.buf, B * T, T, H, hd, o.pos0, o.interleaved, o.inverse ?? false);
}

/** The backward of rope: rotates the gradient dX (in place) by -angle. */
export function ropeBackward(dx: Tensor, tables: RopeTables, o: RopeOptions): void {
  rope(dx, tables, { ...o, inverse: !(o.inverse ?? false) });
}
