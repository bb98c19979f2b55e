// Shared pieces of the align tests: a tiny random model with a LoRA whose A and B are both non-zero
// (so every gradient path is exercised), and a random batch.
import type { Backend } from '../../engine/backend.ts';
import { randomLlamaWeights, randomWeights, tinyLlamaConfig } from '../../engine/demo.ts';
import { Lora, loraTargetNames, projectionShape } from '../../engine/lora.ts';
import type { Batch } from '../../engine/model/causal_lm.ts';
import type { ModelConfig } from '../../engine/model/family.ts';
import type { LlamaConfig } from '../../engine/model/llama/config.ts';
import { LlamaModel } from '../../engine/model/llama/model.ts';
import type { OPTConfig } from '../../engine/model/opt/config.ts';
import { OPTModel } from '../../engine/model/opt/model.ts';
import { rand, randInt } from '../helpers.ts';

export function tinyConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return tinyLlamaConfig({ vocabSize: 40, dim: 16, hiddenDim: 24, nLayers: 2, nHeads: 2, nKvHeads: 1, headDim: 8,
    maxSeqLen: 16, bosId: 1, eosId: 2, tiedEmbeddings: false, namePath: 'test:tiny', ...over });
}

export function tinyModel(be: Backend, config = tinyConfig(), seed = 7): LlamaModel {
  return LlamaModel.fromHost(be, config, randomLlamaWeights(config, seed));
}

/** A tiny OPT with project_in/out (word embeddings of 12 for a residual stream of 16), same vocabulary as tinyConfig. */
export function tinyOPTConfig(over: Partial<OPTConfig> = {}): OPTConfig {
  return {
    family: 'opt', vocabSize: 40, dim: 16, ffnDim: 24, nLayers: 2, nHeads: 2, headDim: 8, wordEmbedDim: 12, maxSeqLen: 16,
    tiedEmbeddings: true, normEps: 1e-5, bosId: 2, eosId: 2, namePath: 'test:tiny-opt', ...over,
  };
}

export function tinyOPTModel(be: Backend, config = tinyOPTConfig(), seed = 7): OPTModel {
  return OPTModel.fromHost(be, config, randomWeights(config, seed));
}

export function randomLora(be: Backend, config: ModelConfig, r = 4, alpha = 8, dropout = 0, seed = 11): Lora {
  let s = seed;
  return Lora.fromWeights(be, config, { r, alpha, dropout, targets: loraTargetNames(config), seed }, (_l, target) => {
    const [inF, outF] = projectionShape(config, target);
    return { A: rand(r * inF, s++, 0.3), B: rand(outF * r, s++, 0.3) };
  });
}

/** B rows of length T, right-padded to `lengths`, with the first `prompt` positions unlabelled. */
export function randomBatch(config: ModelConfig, B: number, T: number, lengths: number[], prompt: number, seed = 3): Batch {
  const ids = randInt(B * T, seed, config.vocabSize);
  const labels = new Int32Array(B * T).fill(-100);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      if (t >= lengths[b]) ids[b * T + t] = 0;
      else if (t >= prompt) labels[b * T + t] = ids[b * T + t];
    }
  }
  return { B, T, ids, labels, lengths: Int32Array.from(lengths) };
}

export async function readGrads(lora: Lora): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const m of lora.modules) { out.push(await m.dA.toFloat32(), await m.dB.toFloat32()); }
  return out;
}
