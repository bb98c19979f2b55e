// f64 reference of RMSNorm: out = x / sqrt(mean(x^2) + eps) * w per row of width D.
export function rmsnormRef(x: ArrayLike<number>, w: ArrayLike<number>, rows: number, D: number, eps: number): { out: Float64Array; rstd: Float64Array } {
  const out = new Float64Array(rows * D), rstd = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let ss = 0;
    for (let c = 0; c < D; c++) ss += x[i * D + c] ** 2;
    const r = 1 / Math.sqrt(ss / D + eps);
    rstd[i] = r;
    for (let c = 0; c < D; c++) out[i * D + c] = x[i * D + c] * r * w[c];
  }
  return { out, rstd };
}
