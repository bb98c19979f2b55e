// What Vaccine, the jobs and generation need from a model, whatever its family: a causal LM over
// batches of token ids, with LoRA attached, whose forward keeps a tape for its backward and
// exposes each layer's attention-block output (the point Vaccine perturbs and differentiates).
import type { Backend } from '../backend.ts';
import type { Lora } from '../lora.ts';
import type { Tensor } from '../tensor.ts';
import type { ModelConfig } from './family.ts';
import type { DecodeChunk, KVCache } from './kv_cache.ts';
import type { RowPlan, RowsMode } from './rows.ts';

export interface Batch {
  B: number;
  T: number;
  /** [B*T], right-padded */
  ids: Int32Array;
  /** [B*T], IGNORE_INDEX (-100) where there is no loss; not shifted (the model shifts them) */
  labels: Int32Array;
  /** [B] valid tokens per row */
  lengths: Int32Array;
}

export interface ModelOptions {
  /**
   * Storage of the frozen projection weights: 'f16' halves their memory where the backend has
   * f16 storage (WebGPU with shader-f16); compute stays f32. Default 'f32'.
   */
  weightDtype?: 'f32' | 'f16';
}

export interface ForwardOptions {
  /**
   * Which rows to compute (rows.ts): 'all' (default) every position, with every logit; 'loss'
   * only what can reach the loss (rows after a sequence's last label are skipped, and only the
   * labelled rows get logits), for the same loss and gradients at a fraction of the work.
   */
  rows?: RowsMode;
  /**
   * perturbations[l]: [n, dim] in this forward's rows (planRows(batch, rows): B*T for rows
   * 'all'), added to layer l's attention-block output
   */
  perturbations?: Tensor[];
  /** apply LoRA dropout (default: true when the adapter has dropout > 0) */
  training?: boolean;
  /** seed of this forward's dropout masks */
  dropoutSeed?: number;
}

export interface BackwardOptions {
  /** add into every LoRA module's dA/dB (default true) */
  loraGrads?: boolean;
  /** return dL/d(attention-block output) per layer, [n, dim] each in the tape's rows (the caller disposes them) */
  attnOutGrads?: boolean;
}

/** What a forward saved for its backward. Only the model that made it reads it. */
export interface Tape {
  readonly batch: Batch;
  /** the rows the forward computed: attnOutGrads and perturbations are [rows.n, dim] in this order */
  readonly rows: RowPlan;
}

export interface CausalLM {
  readonly backend: Backend;
  readonly config: ModelConfig;
  /** longest sequence this instance runs (at most config.maxSeqLen) */
  readonly maxPositions: number;
  /** storage of the frozen projection weights */
  readonly weightDtype: 'f32' | 'f16';
  /** the adapter forward and backward apply (null: the base model); it must come from Lora.create/fromWeights for this config */
  lora: Lora | null;

  forward(batch: Batch, opts?: ForwardOptions): Tape;
  /** Backward from the mean loss of the tape's forward. */
  backward(tape: Tape, opts?: BackwardOptions): { attnOutGrads: Tensor[] | null };
  /** Mean cross-entropy over the labels that count (0 when none does). */
  loss(tape: Tape): Promise<number>;
  /** [B*T, vocab]; only for a forward with rows 'all' */
  logits(tape: Tape): Tensor;
  /** Each layer's attention-block output (perturbed, if the forward was), [B*T, dim]; only for rows 'all'. */
  attnOutputs(tape: Tape): Tensor[];
  /**
   * The decoder's output, the LM head's input: the final-normed hidden states (OPT: after
   * project_out), [B*T, width]; a sequence classifier's head reads them at the last real token.
   * Only for a forward with rows 'all'.
   */
  hiddenStates(tape: Tape): Tensor;
  disposeTape(tape: Tape): void;

  /** W += (alpha/r) B A for every module of the adapter (the paper's Double-LoRA); the adapter stays separate. */
  mergeLora(lora: Lora): void;

  /** A key/value cache for `batch` sequences of up to `capacity` (<= maxPositions) positions. */
  createKVCache(batch: number, capacity: number): KVCache;
  /**
   * The decoding primitive (generate.ts builds on it): runs a chunk (kv_cache.ts makeChunk)
   * through the model over the cache, writing the chunk's keys and values into it, with the
   * adapter applied and no dropout. Returns each sequence's last-token logits, [B, vocab]; the
   * caller disposes them.
   */
  decode(cache: KVCache, chunk: DecodeChunk): Tensor;

  dispose(): void;
}
