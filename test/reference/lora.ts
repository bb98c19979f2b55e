// f64 reference of a LoRA-adapted linear layer: y = x W^T + scale * ((x ∘ mask) A^T) B^T.
// x [T, in], W [out, in], A [r, in], B [out, r], mask [T, in] or null.
export function loraLinearRef(x: ArrayLike<number>, w: ArrayLike<number>, a: ArrayLike<number>, b: ArrayLike<number>,
  mask: ArrayLike<number> | null, T: number, inF: number, outF: number, r: number, scale: number): Float64Array {
  const y = new Float64Array(T * outF);
  const u = new Float64Array(r);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let i = 0; i < inF; i++) s += x[t * inF + i] * (mask ? mask[t * inF + i] : 1) * a[j * inF + i];
      u[j] = s;
    }
    for (let o = 0; o < outF; o++) {
      let s = 0;
      for (let i = 0; i < inF; i++) s += x[t * inF + i] * w[o * inF + i];
      let l = 0;
      for (let j = 0; j < r; j++) l += u[j] * b[o * r + j];
      y[t * outF + o] = s + scale * l;
    }
  }
  return y;
}
