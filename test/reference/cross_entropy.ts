// f64 reference of per-row cross-entropy; labels outside [0, V) (e.g. -100) give 0.
export function crossEntropyRef(logits: ArrayLike<number>, labels: ArrayLike<number>, N: number, V: number): Float64Array {
  const loss = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const y = labels[i];
    if (y < 0 || y >= V) continue;
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, logits[i * V + j]);
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(logits[i * V + j] - m);
    loss[i] = m + Math.log(s) - logits[i * V + y];
  }
  return loss;
}
