// One AdamW step (torch.optim.AdamW semantics) on a parameter tensor and its two moment tensors.
import type { AdamWHyperparameters } from '../backend.ts';
import { Tensor, expectDType, expectShape } from '../tensor.ts';

export type { AdamWHyperparameters };

/** torch.optim.AdamW's defaults (weight decay excepted: callers choose it). */
export const ADAMW_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8 } as const;

export interface AdamWStep extends AdamWHyperparameters {
  lr: number;
  /** 1-based step count, for the bias corrections */
  step: number;
}

/** In place on p, m, v, given the gradient g. */
export function adamwStep(p: Tensor, g: Tensor, m: Tensor, v: Tensor, o: AdamWStep): void {
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
