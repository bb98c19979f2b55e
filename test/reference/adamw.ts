// f64 reference of one torch.optim.AdamW step (foreach=False, amsgrad=False), in place.
export interface AdamWRefOptions { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number }

export function adamwRef(p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, step: number, o: AdamWRefOptions): void {
  const bc1 = 1 - o.beta1 ** step, bc2 = 1 - o.beta2 ** step;
  for (let i = 0; i < p.length; i++) {
    p[i] *= 1 - o.lr * o.weightDecay;
    m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
    v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
    p[i] -= (o.lr / bc1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + o.eps);
  }
}
