// Mean loss of a model (with its current adapter) over fixed examples, without dropout: the
// before/after measure the real-data checks use, independent of which batches training drew.
import { collate, countLossTokens, type Example } from '../data.ts';
import type { CausalLM } from '../model/causal_lm.ts';

/** Token-weighted mean cross-entropy over `examples`, in batches of `batchSize`. */
export async function evaluateLoss(model: CausalLM, examples: Example[], batchSize: number, padId: number): Promise<number> {
  let sum = 0, count = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = collate(examples.slice(i, i + batchSize), padId);
    const n = countLossTokens(batch);
    if (n === 0) continue;
    const tape = model.forward(batch, { training: false });
    try {
      sum += (await model.loss(tape)) * n;
      count += n;
    } finally {
      model.disposeTape(tape);
    }
  }
  return count > 0 ? sum / count : NaN;
}
