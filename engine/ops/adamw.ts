// One AdamW step (torch.optim.AdamW semantics) on a parameter tensor and its two moment tensors.
import { Tensor, expectDType, expectShape } from '../tensor.ts';

export interface AdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count, for the bias corrections */
  step: number;
}

/** In place on p, m, v, given the gradient g. */
export function adamwStep(p: Tensor, g: Tensor, m: Tensor, v: Tensor, o: AdamWOptions): void {
  for (const [n, t] of [['p', p], ['g', g], ['m', m], ['v', v]] as const) {
    expectDType(`adamw ${n}`, t, 'f32');
    expectShape(`adamw ${n}`, t, p.shape);
  }
  if (!Number.isInteger(o.step) || o.step < 1) throw new Error(`adamw: step must be an integer >= 1, got ${o.step}`);
  p.backend.adamw(p.buf, g.buf, m.buf, v.buf, {
    n: p.size, lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay,
    biasCorrection1: 1 - o.beta1 ** o.step, biasCorrection2: 1 - o.beta2 ** o.step,
  });
}
