// f64 reference of rotary embedding on x [rows, H, hd], reading given cos/sin tables [maxPos, hd/2].
export function ropeRef(x: ArrayLike<number>, cos: ArrayLike<number>, sin: ArrayLike<number>, rows: number, T: number,
  H: number, hd: number, pos0: number, interleaved: boolean, inverse: boolean): Float64Array {
  const out = Float64Array.from(x);
  const half = hd / 2;
  for (let r = 0; r < rows; r++) {
    const pos = pos0 + (r % T);
    for (let h = 0; h < H; h++) {
      const base = (r * H + h) * hd;
      for (let j = 0; j < half; j++) {
        const c = cos[pos * half + j], s = inverse ? -sin[pos * half + j] : sin[pos * half + j];
        const ia = interleaved ? base + 2 * j : base + j;
        const ib = interleaved ? ia + 1 : ia + half;
        const a = x[ia], b = x[ib];
        out[ia] = a * c - b * s;
        out[ib] = b * c + a * s;
      }
    }
  }
  return out;
}

/** Exact (f64) angles pos / theta^(2j/hd), for checking the f32 tables. */
export function ropeAngleRef(pos: number, j: number, hd: number, theta: number): number {
  return pos / Math.pow(theta, (2 * j) / hd);
}
