// f64 reference of causal GQA attention with key-length padding (semantics of Backend.attention).
export interface AttnRefDims {
  B: number; Tq: number; Tk: number; Hq: number; Hkv: number; hd: number; qPos0: number; scale: number;
  /** query rows at or past keyLen[b] are padding: no keys (out 0, lse -inf) */
  skipPadQueries?: boolean;
}

export function attentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, keyLen: ArrayLike<number>,
  d: AttnRefDims): { out: Float64Array; lse: Float64Array } {
  const { B, Tq, Tk, Hq, Hkv, hd, qPos0, scale } = d;
  const out = new Float64Array(B * Tq * Hq * hd), lse = new Float64Array(B * Hq * Tq);
  const s = new Float64Array(Tk);
  for (let b = 0; b < B; b++) for (let h = 0; h < Hq; h++) for (let i = 0; i < Tq; i++) {
    const g = Math.floor(h / (Hq / Hkv));
    const pad = d.skipPadQueries && qPos0 + i >= Math.min(keyLen[b], Tk);
    const nk = pad ? 0 : Math.max(0, Math.min(qPos0 + i + 1, keyLen[b], Tk));
    const qo = ((b * Tq + i) * Hq + h) * hd;
    if (nk === 0) { lse[(b * Hq + h) * Tq + i] = -Infinity; continue; }
    let m = -Infinity;
    for (let j = 0; j < nk; j++) {
      const ko = ((b * Tk + j) * Hkv + g) * hd;
      let acc = 0;
      for (let c = 0; c < hd; c++) acc += q[qo + c] * k[ko + c];
      s[j] = acc * scale;
      m = Math.max(m, s[j]);
    }
    let l = 0;
    for (let j = 0; j < nk; j++) l += Math.exp(s[j] - m);
    for (let j = 0; j < nk; j++) {
      const p = Math.exp(s[j] - m) / l;
      const vo = ((b * Tk + j) * Hkv + g) * hd;
      for (let c = 0; c < hd; c++) out[qo + c] += p * v[vo + c];
    }
    lse[(b * Hq + h) * Tq + i] = m + Math.log(l);
  }
  return { out, lse };
}
