// The pieces every family's model is built from, written once: the checks and shifted labels of a
// training batch, the mean loss, and a projection as a layer runs it, y = x W^T (+ b) (+ LoRA
// with its dropout), forward and backward on the checked ops; and what a family's model.ts fills
// in for the shared decoder (decoder.ts): its weights' upload and storage, the attention block's
// weights and tape its own extend, the projection calls its MLP makes.
import type { Backend } from '../backend.ts';
import type { Lora, LoraModule, LoraTarget } from '../lora.ts';
import { biasAdd } from '../ops/bias_add.ts';
import { IGNORE_INDEX } from '../ops/cross_entropy.ts';
import { dropoutMask } from '../ops/dropout.ts';
import { loraBackward, loraForward } from '../ops/lora.ts';
import { linear, linearBackward } from '../ops/matmul.ts';
import { mixSeed } from '../random.ts';
import { Tensor } from '../tensor.ts';
import type { Batch, ForwardOptions, ModelOptions } from './causal_lm.ts';
import { checkWeights, type HostWeights, type ModelConfig } from './family.ts';

/** Throws unless the batch's arrays, ids, length and perturbations fit the model. */
export function checkBatch(batch: Batch, config: ModelConfig, maxPositions: number, opts: ForwardOptions): void {
  const { B, T } = batch;
  const N = B * T;
  if (batch.ids.length !== N || batch.labels.length !== N || batch.lengths.length !== B) {
    throw new Error(`forward: batch arrays do not match B=${B}, T=${T}`);
  }
  if (T > maxPositions) throw new Error(`forward: sequence length ${T} exceeds the model's ${maxPositions} positions`);
  for (let i = 0; i < N; i++) {
    if (batch.ids[i] < 0 || batch.ids[i] >= config.vocabSize) throw new Error(`forward: token id ${batch.ids[i]} outside the vocabulary (${config.vocabSize})`);
  }
  if (opts.perturbations && opts.perturbations.length !== config.nLayers) {
    throw new Error(`forward: ${opts.perturbations.length} perturbations for ${config.nLayers} layers`);
  }
}

/** Row t's label is the batch's label at t + 1 (IGNORE_INDEX past the end); count: the labels that enter the mean. */
export function shiftLabels(batch: Batch): { shifted: Int32Array; count: number } {
  const { B, T } = batch;
  const shifted = new Int32Array(B * T);
  let count = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const lab = t + 1 < T ? batch.labels[b * T + t + 1] : IGNORE_INDEX;
      shifted[b * T + t] = lab;
      if (lab !== IGNORE_INDEX) count++;
    }
  }
  return { shifted, count };
}

/** Mean of the per-row losses over the `count` labels that count (0 when none does). */
export async function meanLoss(rowLoss: Tensor, count: number): Promise<number> {
  const rows = await rowLoss.read();
  let s = 0;
  for (let i = 0; i < rows.length; i++) s += rows[i];
  return count > 0 ? s / count : 0;
}

/** What a projection with LoRA saved in the forward: its input's U = (x∘mask) A^T and the mask. */
export interface LoraSaved { module: LoraModule; u: Tensor; mask: Tensor | null }

/** One layer's forward as its projections see it. */
export interface ProjectionContext {
  lora: Lora | null;
  layer: number;
  /** LoRA dropout of this forward (null: none) */
  dropout: { p: number; seed: number } | null;
  /**
   * the batch position of each row (i32 [rows]) when the forward computes some rows only
   * (rows.ts): a row's dropout mask is the one its position has in a forward over every row
   */
  rowIndex?: Tensor | null;
  /** allocates a tensor the caller frees (from the arena: contents undefined; key: its role there) */
  mk: (shape: number[], key?: string) => Tensor;
  /** the arena keys' prefix of this layer's buffers ('L3.') */
  keys?: string;
  /** what each target's LoRA saved for the backward */
  saved: Map<LoraTarget, LoraSaved>;
}

/**
 * y = x w^T (+ bias) (+ the adapter's LoRA on `target` in this layer). The dropout mask is seeded
 * by (the forward's seed, layer, targetIndex): targetIndex is the target's place in its family's
 * list, so every target of every layer draws its own mask.
 */
export function projectionForward(ctx: ProjectionContext, target: LoraTarget, targetIndex: number,
  y: Tensor, x: Tensor, w: Tensor, bias: Tensor | null): void {
  linear(y, x, w);
  if (bias) biasAdd(y, bias);
  const m = ctx.lora?.get(ctx.layer, target);
  if (!m) return;
  const lead = x.shape.slice(0, -1);
  let mask: Tensor | null = null;
  const key = ctx.keys === undefined ? undefined : `${ctx.keys}${target}`;
  if (ctx.dropout) {
    mask = ctx.mk([...lead, m.inF], key && key + '.mask');
    dropoutMask(mask.view([mask.size / m.inF, m.inF]), ctx.dropout.p, mixSeed(ctx.dropout.seed, ctx.layer, targetIndex), ctx.rowIndex ?? null);
  }
  const u = ctx.mk([...lead, ctx.lora!.options.r], key && key + '.u');
  loraForward(y, u, x, m.A, m.B, mask, ctx.lora!.scale);
  ctx.saved.set(target, { module: m, u, mask });
}

export interface ProjectionBackwardOptions {
  /** add into dx instead of overwriting it */
  accumulate: boolean;
  /** false: skip the base weight's dX (nothing below needs it); LoRA's share is still added, and its dA/dB found */
  needInput: boolean;
  /** add into the LoRA module's dA, dB */
  loraGrads: boolean;
  /** the adapter's alpha / r */
  scale: number;
  /** scratch [rows, r] */
  du: Tensor;
}

/** Backward of projectionForward given dy: dx (+)= dy w, plus LoRA's share and its dA, dB. The bias needs nothing. */
export function projectionBackward(saved: LoraSaved | undefined, dx: Tensor, dy: Tensor, x: Tensor, w: Tensor,
  o: ProjectionBackwardOptions): void {
  if (o.needInput) linearBackward(dx, null, dy, x, w, o.accumulate);
  if (!saved) return;
  const m = saved.module;
  loraBackward(dx, o.loraGrads ? m.dA : null, o.loraGrads ? m.dB : null, o.du, dy, x, m.A, m.B, saved.u, saved.mask, o.scale);
}

// ---- the decoder's pieces a family fills in (decoder.ts) -----------------------------------

/** Allocates a tensor the caller frees (from the arena: contents undefined; key: its role there). */
export type Mk = (shape: number[], key?: string) => Tensor;

/** The hyper-parameters the shared decoder reads. */
export interface DecoderConfig extends ModelConfig {
  nHeads: number;
  headDim: number;
  normEps: number;
}

/** A layer's attention projections (a family's layer weights extend this). */
export interface AttentionWeights {
  q: Tensor; k: Tensor; v: Tensor; o: Tensor;
  qBias: Tensor | null; kBias: Tensor | null; vBias: Tensor | null; oBias: Tensor | null;
}

/** What a layer's attention block keeps (a family's layer tape extends this). */
export interface AttentionTape {
  x: Tensor;          // layer input (residual), [n, dim]
  q: Tensor; k: Tensor; v: Tensor;   // in attention's layout ([B*tAtt, ...]), after the family's rotation
  att: Tensor; lse: Tensor;          // attention's output (its layout) and log-sum-exps
  attRows: Tensor;    // att as rows (the output projection's input); att itself where the layouts agree
  o: Tensor | null;   // attention-block output (perturbed, if a perturbation was given); kept for rows 'all'
  xMid: Tensor;       // x + o
  lora: Map<LoraTarget, LoraSaved>;
}

/** A projection of this layer, forward: y = x W^T (+ bias) (+ LoRA on `target`). */
export type Proj = (target: LoraTarget, y: Tensor, input: Tensor, weight: Tensor, bias: Tensor | null) => void;
/** Its backward: dxOut (+)= dy W, plus LoRA's share (and its dA, dB). */
export type ProjBack = (target: LoraTarget, dxOut: Tensor, dy: Tensor, input: Tensor, weight: Tensor, accumulate: boolean, needInput?: boolean) => void;

/** Uploads one weight by name. */
export type Upload = (name: string) => Tensor;

/**
 * Checks the weights against their shapes, then `build` uploads them: get(name) as stored,
 * getMatrix(name) for a matrix multiplied by the activations (f16 storage where `half`). On an
 * exception everything uploaded is freed.
 */
export function uploadWeights(backend: Backend, shapes: Map<string, number[]>, weights: HostWeights, where: string, half: boolean,
  build: (get: Upload, getMatrix: Upload) => void): void {
  checkWeights(shapes, weights, where);
  const uploaded: Tensor[] = [];
  const up = (t: Tensor) => { uploaded.push(t); return t; };
  const get = (name: string): Tensor => up(Tensor.from(backend, shapes.get(name)!, weights.get(name)!.data));
  const getMatrix = (name: string): Tensor => half ? up(Tensor.fromF16(backend, shapes.get(name)!, weights.get(name)!.data)) : get(name);
  try {
    build(get, getMatrix);
  } catch (e) {
    for (const t of uploaded) t.dispose();
    throw e;
  }
}

/** The storage opts asks for the frozen projection weights; throws where the backend has no f16 storage. */
export function weightDtypeOf(backend: Backend, opts: ModelOptions): 'f32' | 'f16' {
  const half = opts.weightDtype === 'f16';
  if (half && !(backend.hasF16 && backend.allocF16 && backend.writeF16 && backend.matmulF16B)) {
    throw new Error(`f16 weights need a backend with f16 storage (WebGPU with shader-f16); ${backend.name} (${backend.description}) has none`);
  }
  return half ? 'f16' : 'f32';
}
