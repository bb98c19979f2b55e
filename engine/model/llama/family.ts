// The Llama family as the rest of the engine sees it (see ../family.ts): Llama-2, TinyLlama,
// SmolLM, Qwen2-style q/k/v bias (Hugging Face directories) and llama2.c checkpoints.
import type { ModelFamily } from '../family.ts';
import {
  LLAMA_ARCHITECTURES, LLAMA_LORA_TARGETS, LLAMA_MODEL_TYPES, llamaConfigFromHF, llamaWeightShapes, type LlamaConfig,
} from './config.ts';
import { parseLlama2cModel, permuteQKRowsFromHF, permuteQKRowsToHF } from './llama2c.ts';
import { LlamaModel } from './model.ts';

export const llama: ModelFamily<LlamaConfig> = {
  name: 'llama',
  architectures: LLAMA_ARCHITECTURES,
  modelTypes: LLAMA_MODEL_TYPES,
  configFromHF: llamaConfigFromHF,
  fitToWeights(config, weights) {
    // Checkpoints with tie_word_embeddings=false but no lm_head exist; sharing is the only sensible reading.
    if (!weights.has('lm_head.weight')) config.tiedEmbeddings = true;
    if (config.tiedEmbeddings) weights.delete('lm_head.weight');
  },
  weightShapes: llamaWeightShapes,
  checkpointFormats: [{ describe: 'llama2.c .bin checkpoint', matches: (name) => name.endsWith('.bin'), load: parseLlama2cModel }],

  loraTargets: LLAMA_LORA_TARGETS,
  layerModule: (layer) => `model.layers.${layer}`,
  loraRowOrder(config, target) {
    // llama2.c keeps q/k rows in its interleaved RoPE order; adapter files use Hugging Face's.
    if (config.source !== 'llama2c') return null;
    const heads = target === 'q_proj' ? config.nHeads : target === 'k_proj' ? config.nKvHeads : 0;
    if (heads === 0) return null;
    return {
      toFile: (b, r) => permuteQKRowsToHF(b, heads, config.headDim, r),
      fromFile: (b, r) => permuteQKRowsFromHF(b, heads, config.headDim, r),
    };
  },

  build: (backend, config, weights, opts) => LlamaModel.fromHost(backend, config, weights, opts),
};
