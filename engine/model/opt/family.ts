// The OPT family as the rest of the engine sees it (see ../family.ts): Hugging Face OPTForCausalLM
// directories (pre-LayerNorm OPT: opt-125m, 1.3b, 2.7b, ...), with weights named model.decoder.*
// (as transformers saves them) or decoder.* (as the facebook/opt-* checkpoints store them).
import type { ModelFamily } from '../family.ts';
import {
  OPT_ARCHITECTURES, OPT_DECODER, OPT_LORA_TARGETS, OPT_MODEL_TYPES, optConfigFromHF, optWeightShapes, type OPTConfig,
} from './config.ts';
import { OPTModel } from './model.ts';

export const opt: ModelFamily<OPTConfig> = {
  name: 'opt',
  architectures: OPT_ARCHITECTURES,
  modelTypes: OPT_MODEL_TYPES,
  configFromHF: optConfigFromHF,
  fitToWeights(config, weights) {
    // facebook/opt-* checkpoints name the decoder's weights without the 'model.' prefix.
    if (!weights.has(`${OPT_DECODER}.embed_tokens.weight`) && weights.has('decoder.embed_tokens.weight')) {
      for (const [name, t] of [...weights]) {
        if (!name.startsWith('decoder.')) continue;
        weights.delete(name);
        weights.set(`model.${name}`, t);
      }
    }
    // A checkpoint with tie_word_embeddings=false but no lm_head can only mean a shared one.
    if (!weights.has('lm_head.weight')) config.tiedEmbeddings = true;
    if (config.tiedEmbeddings) weights.delete('lm_head.weight');
  },
  weightShapes: optWeightShapes,
  checkpointFormats: [],

  loraTargets: OPT_LORA_TARGETS,
  layerModule: (layer) => `${OPT_DECODER}.layers.${layer}`,
  loraRowOrder: () => null,

  build: (backend, config, weights, opts) => OPTModel.fromHost(backend, config, weights, opts),
};
