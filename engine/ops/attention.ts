// Causal grouped-query attention over Tensors: derives the dims from the shapes, checks them,
// then calls the backend (see Backend.attention for the exact semantics).
import type { AttentionDims } from '../backend.ts';
import { Tensor, expectDType, expectShape } from '../tensor.ts';

export interface AttentionOptions {
  /** position of query row 0 (the KV cache's fill level when decoding); default 0 */
  qPos0?: number;
  /** softmax scale; default 1/sqrt(hd) */
  scale?: number;
  /** query rows at or past keyLen[b] are padding: zero output, no gradient (AttentionDims.skipPadQueries) */
  skipPadQueries?: boolean;
}

/** Dims from q [B,Tq,Hq,hd] and k [B,Tk,Hkv,hd], with every shape and dtype checked. */
export function attentionDims(what: string, q: Tensor, k: Tensor, v: Tensor, keyLen: Tensor, o: AttentionOptions): AttentionDims {
  for (const [n, t] of [['q', q], ['k', k], ['v', v]] as const) expectDType(`${what} ${n}`, t, 'f32');
  expectDType(`${what} keyLen`, keyLen, 'i32');
  if (q.shape.length !== 4) throw new Error(`${what}: q must be [B, Tq, Hq, hd], got [${q.shape.join(', ')}]`);
  const [B, Tq, Hq, hd] = q.shape;
  expectShape(`${what} k`, k, [B, -1, -1, hd]);
  const [, Tk, Hkv] = k.shape;
  expectShape(`${what} v`, v, k.shape);
  expectShape(`${what} keyLen`, keyLen, [B]);
  if (Hkv === 0 || Hq % Hkv !== 0) throw new Error(`${what}: Hq = ${Hq} is not a multiple of Hkv = ${Hkv}`);
  const qPos0 = o.qPos0 ?? 0;
  if (!Number.isInteger(qPos0) || qPos0 < 0) throw new Error(`${what}: bad qPos0 ${qPos0}`);
  return { B, Tq, Tk, Hq, Hkv, hd, qPos0, scale: o.scale ?? 1 / Math.sqrt(hd), skipPadQueries: o.skipPadQueries ?? false };
}

/** Writes out [B,Tq,Hq,hd] and lse [B,Hq,Tq]. */
export function attention(out: Tensor, lse: Tensor, q: Tensor, k: Tensor, v: Tensor, keyLen: Tensor, o: AttentionOptions = {}): AttentionDims {
  const d = attentionDims('attention', q, k, v, keyLen, o);
  expectDType('attention out', out, 'f32');
  expectDType('attention lse', lse, 'f32');
  expectShape('attention out', out, q.shape);
  expectShape('attention lse', lse, [d.B, d.Hq, d.Tq]);
  q.backend.attention(out.buf, lse.buf, q.buf, k.buf, v.buf, keyLen.buf, d);
  return d;
}

/** Writes dq, dk, dv from dout and the forward's out and lse. */
export function attentionBackward(dq: Tensor, dk: Tensor, dv: Tensor, dout: Tensor, q: Tensor, k: Tensor, v: Tensor,
  out: Tensor, lse: Tensor, keyLen: Tensor, o: AttentionOptions = {}): void {
  const d = attentionDims('attentionBackward', q, k, v, keyLen, o);
  for (const [n, t, s] of [['dq', dq, q.shape], ['dout', dout, q.shape], ['out', out, q.shape], ['dk', dk, k.shape], ['dv', dv, k.shape]] as const) {
    expectDType(`attentionBackward ${n}`, t, 'f32');
    expectShape(`attentionBackward ${n}`, t, s);
  }
  expectDType('attentionBackward lse', lse, 'f32');
  expectShape('attentionBackward lse', lse, [d.B, d.Hq, d.Tq]);
  q.backend.attentionBackward(dq.buf, dk.buf, dv.buf, dout.buf, q.buf, k.buf, v.buf, out.buf, lse.buf, keyLen.buf, d);
}
