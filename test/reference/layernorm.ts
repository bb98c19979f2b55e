// f64 reference of LayerNorm with weight and bias: (x - mean) / sqrt(var + eps) * w + b per row of
// width D (biased variance, as torch.nn.LayerNorm).
export function layernormRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, rows: number, D: number, eps: number):
  { out: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const out = new Float64Array(rows * D), mean = new Float64Array(rows), rstd = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let c = 0; c < D; c++) s += x[i * D + c];
    const m = s / D;
    let ss = 0;
    for (let c = 0; c < D; c++) ss += (x[i * D + c] - m) ** 2;
    const r = 1 / Math.sqrt(ss / D + eps);
    mean[i] = m; rstd[i] = r;
    for (let c = 0; c < D; c++) out[i * D + c] = (x[i * D + c] - m) * r * w[c] + b[c];
  }
  return { out, mean, rstd };
}
