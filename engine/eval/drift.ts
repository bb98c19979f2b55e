// Embedding drift (the paper's Figure 2 / Table measure): how far the attention-block outputs of the
// evaluated model move from those of a reference model on the same inputs.
//
//   drift = sum over layers l, samples b, real positions t < length_b, features d of
//           (h_l[b, t, d] - h0_l[b, t, d])^2
//
// h_l is layer l's attention-block output (the o_proj output, before the residual add) of the
// evaluated model, h0_l the same for the reference adapters. The reference (git-disl/Vaccine
// train.py, EmbeddingCallback) sums torch.norm(output - original)^2 over the whole padded batch
// tensor; here padded positions are excluded, so the value does not depend on how the samples were
// batched or padded. This is a pure function over host arrays: the model seam supplies them.

/** One batch of attention outputs: `layers[l]` is [B, T, D] row-major; `lengths[b]` real positions of sample b. */
export interface HiddenBatch {
  B: number;
  T: number;
  D: number;
  lengths: ArrayLike<number>;
  layers: readonly Float32Array[];
}

/**
 * The drift of one batch (sum of squared differences over layers, samples and real positions),
 * accumulated in f64. Both batches must have the same shape and the same lengths.
 */
export function embeddingDrift(h: HiddenBatch, h0: HiddenBatch): number {
  const { B, T, D } = h;
  if (h0.B !== B || h0.T !== T || h0.D !== D) throw new Error(`drift: shapes differ ([${B}, ${T}, ${D}] vs [${h0.B}, ${h0.T}, ${h0.D}])`);
  if (h.layers.length !== h0.layers.length) throw new Error(`drift: ${h.layers.length} layers vs ${h0.layers.length}`);
  if (h.lengths.length !== B || h0.lengths.length !== B) throw new Error(`drift: ${B} samples need ${B} lengths`);
  for (let b = 0; b < B; b++) {
    const len = h.lengths[b];
    if (len !== h0.lengths[b]) throw new Error(`drift: sample ${b} has length ${len} in one batch and ${h0.lengths[b]} in the other`);
    if (!Number.isInteger(len) || len < 0 || len > T) throw new Error(`drift: length ${len} of sample ${b} is outside [0, ${T}]`);
  }
  let sum = 0;
  for (let l = 0; l < h.layers.length; l++) {
    const x = h.layers[l], y = h0.layers[l];
    if (x.length !== B * T * D || y.length !== B * T * D) throw new Error(`drift: layer ${l} has ${x.length} / ${y.length} values, expected ${B * T * D}`);
    for (let b = 0; b < B; b++) {
      const end = (b * T + h.lengths[b]) * D;
      for (let i = b * T * D; i < end; i++) {
        const d = x[i] - y[i];
        sum += d * d;
      }
    }
  }
  return sum;
}
