// Optimizers over the LoRA weights, gradient clipping and the learning-rate schedules. AdamW follows
// torch.optim.AdamW (the kernel does the arithmetic); clipping follows torch.nn.utils.clip_grad_norm_;
// the schedules follow Hugging Face's get_*_schedule_with_warmup (constant: get_constant_schedule),
// evaluated the way HF Trainer does: the lr of optimizer step k (0-based) is lr * lambda(k), because
// Trainer calls scheduler.step() after optimizer.step().
import { Arena } from './arena.ts';
import type { Backend } from './backend.ts';
import { ADAMW_DEFAULTS, adamwStep, type AdamWHyperparameters } from './ops/adamw.ts';
import { axpy, scale } from './ops/elementwise.ts';
import { sumSquares } from './ops/sum_squares.ts';
import { Tensor } from './tensor.ts';

export interface Param { p: Tensor; g: Tensor }

export type SchedulerKind = 'cosine' | 'linear' | 'constant';
export type OptimizerKind = 'adamw' | 'sgd';

export function warmupSteps(ratio: number, totalSteps: number): number {
  return Math.ceil(ratio * totalSteps);
}

/**
 * HF's lr_lambda for each schedule (num_cycles 0.5 for cosine). 'constant' is HF's
 * get_constant_schedule, as `--lr_scheduler_type constant` gives: lambda 1, the warmup ignored.
 */
export function lrLambda(kind: SchedulerKind, step: number, warmup: number, total: number): number {
  if (kind === 'constant') return 1;
  if (step < warmup) return step / Math.max(1, warmup);
  if (kind === 'linear') return Math.max(0, (total - step) / Math.max(1, total - warmup));
  const progress = (step - warmup) / Math.max(1, total - warmup);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
}

/** torch.nn.utils.clip_grad_norm_'s epsilon: coef = maxNorm / (total + 1e-6). */
export const CLIP_EPS = 1e-6;

/** The gradients' total L2 norm (one sumSquares over every tensor, read back once). */
export async function gradNorm(backend: Backend, grads: Tensor[]): Promise<number> {
  const sum = Arena.of(backend).zeros([1]);
  try {
    sumSquares(sum, ...grads);
    return Math.sqrt((await sum.read())[0]);
  } finally { sum.dispose(); }
}

/**
 * Scales the gradients in place so that their total norm `total` (gradNorm) becomes at most
 * maxNorm, as torch's clip_grad_norm_ does (scaled only when the coefficient is below 1); maxNorm
 * 0, or a non-finite total (the trainer's to handle: it stops or skips the step), scales nothing.
 */
export function clipGrads(grads: Tensor[], total: number, maxNorm: number): void {
  const coef = maxNorm / (total + CLIP_EPS);
  if (maxNorm > 0 && Number.isFinite(total) && coef < 1) {
    for (const g of grads) scale(g, g, coef);
  }
}

export interface Optimizer {
  readonly kind: OptimizerKind;
  /** Optimizer steps taken so far (AdamW's t). */
  stepCount: number;
  step(lr: number): void;
  /** Tensors to checkpoint, by name (empty for SGD). */
  stateTensors(): Map<string, Tensor>;
  dispose(): void;
}

/** AdamW's constants; betas and eps default to torch's. */
export type AdamWOptions = Partial<AdamWHyperparameters> & { weightDecay: number };

export class AdamW implements Optimizer {
  readonly kind = 'adamw';
  stepCount = 0;
  readonly hyper: AdamWHyperparameters;
  private m: Tensor[]; private v: Tensor[];

  constructor(backend: Backend, private params: Param[], o: AdamWOptions) {
    this.hyper = { ...ADAMW_DEFAULTS, ...o };
    this.m = params.map((q) => Tensor.zeros(backend, q.p.shape));
    this.v = params.map((q) => Tensor.zeros(backend, q.p.shape));
  }

  step(lr: number): void {
    this.stepCount++;
    const step = { ...this.hyper, lr, step: this.stepCount };
    this.params.forEach((q, i) => adamwStep(q.p, q.g, this.m[i], this.v[i], step));
  }

  stateTensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.params.forEach((_, i) => { out.set(`exp_avg.${i}`, this.m[i]); out.set(`exp_avg_sq.${i}`, this.v[i]); });
    return out;
  }

  dispose(): void { for (const t of [...this.m, ...this.v]) t.dispose(); }
}

/** Plain p -= lr * g, no momentum and no weight decay: it exists so tests can follow steps by hand. */
export class SGD implements Optimizer {
  readonly kind = 'sgd';
  stepCount = 0;
  constructor(private params: Param[]) {}
  step(lr: number): void {
    this.stepCount++;
    for (const q of this.params) axpy(q.p, q.g, -lr);
  }
  stateTensors(): Map<string, Tensor> { return new Map(); }
  dispose(): void {}
}

export function createOptimizer(kind: OptimizerKind, backend: Backend, params: Param[], weightDecay: number): Optimizer {
  return kind === 'adamw' ? new AdamW(backend, params, { weightDecay }) : new SGD(params);
}
