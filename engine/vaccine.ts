// One training step of each alignment method, leaving the LoRA gradients (dA, dB) accumulated for
// the optimizer. vaccineStep reads as Algorithm 1 of the Vaccine paper (Huang et al., 2024):
//   1. forward + backward, recording g_l = dL/d(attention-block output of layer l)
//   2. e_l = rho * g_l / (||(g_1..g_L)||_2 + 1e-7)          (one norm over all layers and the batch)
//   3. forward with e_l added to those outputs, backward: these LoRA gradients drive the update.
// The norm stays on the device (sumSquares into a 1-element tensor, then scaleByInverseNorm), and
// the losses and the norm are downloaded together at the end: the host never waits for the device
// between the two passes.
// Every pass computes only what reaches the loss (ForwardOptions.rows 'loss'): the perturbations
// live in those rows, and are zero at the positions skipped (their gradient is zero there).
import { Arena } from './arena.ts';
import type { Batch, CausalLM } from './model/causal_lm.ts';
import { gatherRowsHost, planRows, scatterRows } from './model/rows.ts';
import { phase, phaseAsync } from './profile/phases.ts';
import { scaleByInverseNorm } from './ops/elementwise.ts';
import { sumSquares } from './ops/sum_squares.ts';
import { mixSeed, Rng } from './random.ts';
import { Tensor } from './tensor.ts';

export const VACCINE_EPS = 1e-7;

export interface StepResult {
  /** loss of the first (unperturbed) pass; for random-vaccine, of its one perturbed pass */
  loss: number;
  /** loss of the perturbed pass (vaccine, random-vaccine) */
  perturbedLoss: number | null;
  /** ||(g_1..g_L)||_2, the norm the perturbation is scaled by (vaccine only) */
  gradNorm: number | null;
}

export interface StepOptions {
  /** seeds LoRA dropout; each pass derives its own mask seed from it, as torch draws a new mask per forward */
  dropoutSeed: number;
}

/** Plain SFT: one forward and backward. */
export async function sftStep(model: CausalLM, batch: Batch, opts: StepOptions): Promise<StepResult> {
  const tape = phase('forward', () => model.forward(batch, { rows: 'loss', training: true, dropoutSeed: passSeed(opts.dropoutSeed, 1) }));
  try {
    phase('backward', () => model.backward(tape, { loraGrads: true }));
    const loss = await phaseAsync('loss', () => model.loss(tape));
    return { loss, perturbedLoss: null, gradNorm: null };
  } finally {
    model.disposeTape(tape);
  }
}

/**
 * Vaccine (Algorithm 1): perturbation-aware alignment step. inspectPerturbations (for tests) sees
 * the perturbations as pass 2 adds them, spread over every batch position ([B*T, dim] each).
 */
export async function vaccineStep(model: CausalLM, batch: Batch,
  opts: StepOptions & { rho: number; inspectPerturbations?: (e: Tensor[]) => void | Promise<void> }): Promise<StepResult> {
  const backend = model.backend;

  // Pass 1: gradients w.r.t. the attention outputs only; the LoRA gradients of this pass are not used.
  const tape1 = phase('pass 1 forward', () => model.forward(batch, { rows: 'loss', training: true, dropoutSeed: passSeed(opts.dropoutSeed, 1) }));
  const plan = tape1.rows;
  let g: Tensor[] = [];
  // The pass-1 loss is read asynchronously: its download is queued now (before the tape goes) and
  // awaited at the end, so the device runs pass 2 without waiting for the host in between.
  let loss: Promise<number>;
  try {
    g = phase('pass 1 backward', () => model.backward(tape1, { loraGrads: false, attnOutGrads: true })).attnOutGrads!;
    loss = phase('pass 1 loss', () => model.loss(tape1));
  } catch (e) {
    for (const gl of g) gl.dispose();
    throw e;
  } finally {
    model.disposeTape(tape1);
  }
  loss.catch(() => {}); // awaited below; an early exit must not leave it unhandled

  // s = sum_l ||g_l||^2, then e_l = rho * g_l / (sqrt(s) + eps) in place, all on the device:
  // from here on g holds the perturbations.
  const sumSq = Arena.of(backend).zeros([1]);
  const perturbations = g;
  try {
    phase('perturbation', () => {
      sumSquares(sumSq, ...g);
      for (const e of perturbations) scaleByInverseNorm(e, e, sumSq, opts.rho, VACCINE_EPS);
    });
    // for tests: the perturbations as pass 2 will use them, at every batch position
    if (opts.inspectPerturbations) {
      const full = perturbations.map((e) => scatterRows(backend, plan, e));
      try { await opts.inspectPerturbations(full); } finally { for (const t of full) t.dispose(); }
    }

    // Pass 2: the perturbed forward and backward; its LoRA gradients drive the optimizer.
    const tape2 = phase('pass 2 forward', () => model.forward(batch, { rows: 'loss', training: true, dropoutSeed: passSeed(opts.dropoutSeed, 2), perturbations }));
    let perturbedLoss: Promise<number>;
    try {
      phase('pass 2 backward', () => model.backward(tape2, { loraGrads: true }));
      perturbedLoss = phase('pass 2 loss', () => model.loss(tape2));
    } finally {
      model.disposeTape(tape2);
    }
    // the step's three downloads, queued back to back: one wait for the device
    const [loss1, loss2, sq] = await phaseAsync('losses', () => Promise.all([loss, perturbedLoss, sumSq.read()]));
    return { loss: loss1, perturbedLoss: loss2, gradNorm: Math.sqrt(sq[0]) };
  } finally {
    for (const e of perturbations) e.dispose();
    sumSq.dispose();
  }
}

/**
 * Random Vaccine (the paper's ablation): one pass with e_l ~ N(0, rho) added to the attention
 * outputs. rho is the VARIANCE of the noise, as the issue specifies, so the std is sqrt(rho).
 * The noise is drawn on the host from `noiseSeed`, so a resumed run redraws the same noise.
 */
export async function randomVaccineStep(model: CausalLM, batch: Batch,
  opts: StepOptions & { rho: number; noiseSeed: number; inspectPerturbations?: (e: Tensor[]) => void | Promise<void> }): Promise<StepResult> {
  const backend = model.backend;
  const dim = model.config.dim;
  const n = batch.B * batch.T * dim;
  const std = Math.sqrt(opts.rho);
  const rng = new Rng(opts.noiseSeed);
  // Noise is drawn for every position (the same draws whatever the rows), then kept at the rows
  // the forward computes: elsewhere it cannot reach the loss.
  const plan = planRows(batch, 'loss');
  const perturbations: Tensor[] = [];
  try {
    const noises: Float32Array[] = [];
    for (let l = 0; l < model.config.nLayers; l++) {
      const noise = new Float32Array(n);
      for (let i = 0; i < n; i++) noise[i] = std * rng.normal();
      noises.push(noise);
    }
    if (opts.inspectPerturbations) {
      const full = noises.map((x) => Tensor.from(backend, [batch.B * batch.T, dim], x));
      try { await opts.inspectPerturbations(full); } finally { for (const t of full) t.dispose(); }
    }
    for (const noise of noises) perturbations.push(Arena.of(backend).from([plan.n, dim], gatherRowsHost(plan, noise, dim)));
    const tape = phase('forward', () => model.forward(batch, { rows: 'loss', training: true, dropoutSeed: passSeed(opts.dropoutSeed, 1), perturbations }));
    try {
      phase('backward', () => model.backward(tape, { loraGrads: true }));
      const loss = await phaseAsync('loss', () => model.loss(tape));
      return { loss, perturbedLoss: loss, gradNorm: null };
    } finally {
      model.disposeTape(tape);
    }
  } finally {
    for (const e of perturbations) e.dispose();
  }
}

/** The dropout seed of pass `pass` (1 or 2) of a step. */
export function passSeed(stepSeed: number, pass: number): number {
  return mixSeed(stepSeed, pass);
}
