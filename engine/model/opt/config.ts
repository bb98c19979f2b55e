// The OPT family's hyper-parameters (facebook/opt-125m and its pre-LayerNorm siblings) and its
// weights: optConfigFromHF maps a Hugging Face config.json onto OPTConfig and refuses what the
// engine cannot run, naming the field; optWeightShapes is the one table of weight names and shapes
// (loaders check it, the model uploads by it, tests generate from it).
//
// What OPT does differently from Llama: pre-LayerNorm blocks whose LayerNorms have a weight and a
// bias (eps 1e-5, hard-coded in Hugging Face's OPT); learned position embeddings read at
// position + 2 (the table has max_position_embeddings + 2 rows); a ReLU MLP (fc1, fc2); a bias on
// every linear layer; a final LayerNorm; project_in / project_out when word_embed_proj_dim differs
// from hidden_size; the LM head tied to the token embedding.
//
// Training-time dropout (config `dropout`, `attention_dropout`, `layerdrop`; OPT checkpoints ship
// dropout 0.1) is not applied: the engine runs the model as Hugging Face does in eval mode, and
// the only dropout in training is LoRA's own (--lora-dropout).
import type { LoraTargetSpec, ModelConfig } from '../family.ts';
import { HFConfigFields } from '../hf_config.ts';

export interface OPTConfig extends ModelConfig {
  family: 'opt';
  /** fc1's width (ffn_dim) */
  ffnDim: number;
  nHeads: number;
  /** dim / nHeads */
  headDim: number;
  /** width of the token embedding and the LM head (word_embed_proj_dim); project_in/out map it to and from dim when it differs */
  wordEmbedDim: number;
  /** the LM head shares the token embedding (tie_word_embeddings, true for every released OPT) */
  tiedEmbeddings: boolean;
  /** nn.LayerNorm's eps */
  normEps: number;
}

export const OPT_ARCHITECTURES = ['OPTForCausalLM'] as const;
export const OPT_MODEL_TYPES = ['opt'] as const;

/** OPT's learned position embedding reads row position + 2 (Hugging Face OPTLearnedPositionalEmbedding.offset). */
export const OPT_POSITION_OFFSET = 2;
/** Hugging Face's OPT builds every LayerNorm with nn.LayerNorm's default eps. */
const OPT_LAYER_NORM_EPS = 1e-5;

/**
 * OPTConfig from a parsed config.json (the registry has already matched its architecture).
 * `path` is the model directory, named in every error with the field to fix.
 */
export function optConfigFromHF(c: Record<string, unknown>, path: string): OPTConfig {
  const f = new HFConfigFields(c, path);
  f.require(c.do_layer_norm_before !== false,
    '"do_layer_norm_before": false (post-LayerNorm blocks, as in OPT-350m) is not supported: only pre-LayerNorm OPT models run here');
  f.require(c._remove_final_layer_norm !== true, '"_remove_final_layer_norm": true is not supported (the final LayerNorm is always applied)');
  f.require(c.enable_bias !== false, '"enable_bias": false is not supported (OPT linear layers with biases only)');
  f.require(c.layer_norm_elementwise_affine !== false, '"layer_norm_elementwise_affine": false is not supported (LayerNorms with weight and bias only)');
  const act = c.activation_function ?? 'relu';
  f.require(act === 'relu', `"activation_function" ${JSON.stringify(act)} is not supported (OPT's MLP runs "relu")`);

  const vocabSize = f.posInt('vocab_size');
  const dim = f.posInt('hidden_size');
  const ffnDim = f.posInt('ffn_dim');
  const nLayers = f.posInt('num_hidden_layers');
  const nHeads = f.posInt('num_attention_heads');
  f.require(dim % nHeads === 0, `hidden_size ${dim} is not divisible by num_attention_heads ${nHeads}`);
  const wordEmbedDim = f.posInt('word_embed_proj_dim', dim);
  const maxSeqLen = f.posInt('max_position_embeddings');
  const tiedEmbeddings = f.bool('tie_word_embeddings', true);
  const bosId = f.tokenId('bos_token_id', 2, vocabSize);
  const eosId = f.tokenId('eos_token_id', 2, vocabSize);
  return {
    family: 'opt', vocabSize, dim, ffnDim, nLayers, nHeads, headDim: dim / nHeads, wordEmbedDim, maxSeqLen,
    tiedEmbeddings, normEps: OPT_LAYER_NORM_EPS, bosId, eosId, namePath: path,
  };
}

/** Module path of the decoder, as Hugging Face's OPTForCausalLM names it. */
export const OPT_DECODER = 'model.decoder';

/** Every weight the model needs, with its expected shape (Hugging Face names). */
export function optWeightShapes(c: OPTConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const d = `${OPT_DECODER}.`;
  m.set(`${d}embed_tokens.weight`, [c.vocabSize, c.wordEmbedDim]);
  m.set(`${d}embed_positions.weight`, [c.maxSeqLen + OPT_POSITION_OFFSET, c.dim]);
  if (c.wordEmbedDim !== c.dim) {
    m.set(`${d}project_in.weight`, [c.dim, c.wordEmbedDim]);
    m.set(`${d}project_out.weight`, [c.wordEmbedDim, c.dim]);
  }
  for (let i = 0; i < c.nLayers; i++) {
    const p = `${d}layers.${i}.`;
    for (const norm of ['self_attn_layer_norm', 'final_layer_norm']) {
      m.set(`${p}${norm}.weight`, [c.dim]);
      m.set(`${p}${norm}.bias`, [c.dim]);
    }
    for (const t of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      m.set(`${p}self_attn.${t}.weight`, [c.dim, c.dim]);
      m.set(`${p}self_attn.${t}.bias`, [c.dim]);
    }
    m.set(`${p}fc1.weight`, [c.ffnDim, c.dim]);
    m.set(`${p}fc1.bias`, [c.ffnDim]);
    m.set(`${p}fc2.weight`, [c.dim, c.ffnDim]);
    m.set(`${p}fc2.bias`, [c.dim]);
  }
  m.set(`${d}final_layer_norm.weight`, [c.dim]);
  m.set(`${d}final_layer_norm.bias`, [c.dim]);
  if (!c.tiedEmbeddings) m.set('lm_head.weight', [c.vocabSize, c.wordEmbedDim]);
  return m;
}

/** The six projections LoRA can attach to, as PEFT names them, with their [in, out] features. */
export const OPT_LORA_TARGETS: readonly LoraTargetSpec<OPTConfig>[] = [
  { name: 'q_proj', module: 'self_attn.q_proj', shape: (c) => [c.dim, c.dim] },
  { name: 'k_proj', module: 'self_attn.k_proj', shape: (c) => [c.dim, c.dim] },
  { name: 'v_proj', module: 'self_attn.v_proj', shape: (c) => [c.dim, c.dim] },
  { name: 'out_proj', module: 'self_attn.out_proj', shape: (c) => [c.dim, c.dim] },
  { name: 'fc1', module: 'fc1', shape: (c) => [c.dim, c.ffnDim] },
  { name: 'fc2', module: 'fc2', shape: (c) => [c.ffnDim, c.dim] },
];
