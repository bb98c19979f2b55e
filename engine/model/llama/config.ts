// The Llama family's hyper-parameters (Llama-2, TinyLlama, SmolLM, Qwen2-style q/k/v bias;
// llama2.c checkpoints) and its weights: llamaConfigFromHF maps a Hugging Face config.json onto
// LlamaConfig and rejects what the engine cannot run; llamaWeightShapes is the one table of weight
// names and shapes (loaders check it, the model uploads by it, demos generate from it).
import type { LoraTargetSpec, ModelConfig } from '../family.ts';
import { HFConfigFields } from '../hf_config.ts';

export interface LlamaConfig extends ModelConfig {
  family: 'llama';
  hiddenDim: number; nHeads: number; nKvHeads: number;
  headDim: number;            // usually dim / nHeads
  ropeTheta: number; normEps: number;
  ropeInterleaved: boolean;   // true for llama2.c checkpoints (pairs 2j,2j+1), false for HF (rotate-half)
  tiedEmbeddings: boolean;    // lm_head shares embed_tokens
  attentionBias: boolean;     // Qwen2-style q/k/v bias
  source: 'hf' | 'llama2c';
}

/** The config.json `architectures` and `model_type` values this family runs; Qwen2 always has q/k/v bias. */
export const LLAMA_ARCHITECTURES = ['LlamaForCausalLM', 'Qwen2ForCausalLM'] as const;
export const LLAMA_MODEL_TYPES = ['llama', 'qwen2'] as const;

/**
 * LlamaConfig from a parsed config.json (the registry has already matched its architecture).
 * `path` is the model directory, named in every error so the user knows which file to fix.
 */
export function llamaConfigFromHF(c: Record<string, unknown>, path: string): LlamaConfig {
  const f = new HFConfigFields(c, path);
  const archs = c.architectures;
  const arch = Array.isArray(archs) && archs.length > 0 ? String(archs[0]) : String(c.model_type);
  // Sliding-window attention changes the model's function; refuse it rather than run it wrongly.
  f.require(c.use_sliding_window !== true, 'use_sliding_window=true is not supported (full attention only)');
  f.require(c.mlp_bias !== true, 'mlp_bias=true is not supported');

  const vocabSize = f.posInt('vocab_size');
  const dim = f.posInt('hidden_size');
  const hiddenDim = f.posInt('intermediate_size');
  const nLayers = f.posInt('num_hidden_layers');
  const nHeads = f.posInt('num_attention_heads');
  const nKvHeads = f.posInt('num_key_value_heads', nHeads);
  f.require(dim % nHeads === 0 || c.head_dim !== undefined, `hidden_size ${dim} is not divisible by num_attention_heads ${nHeads} (and no head_dim given)`);
  const headDim = f.posInt('head_dim', dim / nHeads);
  f.require(nHeads % nKvHeads === 0, `num_attention_heads ${nHeads} is not a multiple of num_key_value_heads ${nKvHeads}`);
  f.require(headDim % 2 === 0, `head_dim ${headDim} must be even (RoPE rotates pairs)`);
  const maxSeqLen = f.posInt('max_position_embeddings');
  const ropeTheta = f.posNum('rope_theta', 10000);
  const normEps = f.posNum('rms_norm_eps', 1e-6);
  const scaling = c.rope_scaling;
  f.require(scaling === undefined || scaling === null, `rope_scaling ${JSON.stringify(scaling)} is not supported`);
  const tiedEmbeddings = f.bool('tie_word_embeddings', false);
  // Qwen2 always has q/k/v bias; Llama only when attention_bias says so.
  const attentionBias = arch === 'Qwen2ForCausalLM' || arch === 'qwen2' || f.bool('attention_bias', false);
  const bosId = f.tokenId('bos_token_id', 1, vocabSize);
  const eosId = f.tokenId('eos_token_id', 2, vocabSize);

  return {
    family: 'llama', vocabSize, dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim, maxSeqLen, ropeTheta, normEps,
    ropeInterleaved: false, tiedEmbeddings, attentionBias, bosId, eosId, source: 'hf',
    namePath: path,
  };
}

/** Every weight the model needs, with its expected shape. lm_head only when untied. */
export function llamaWeightShapes(c: LlamaConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const q = qDim(c), kv = kvDim(c);
  m.set('model.embed_tokens.weight', [c.vocabSize, c.dim]);
  for (let i = 0; i < c.nLayers; i++) {
    const p = `model.layers.${i}.`;
    m.set(`${p}input_layernorm.weight`, [c.dim]);
    m.set(`${p}self_attn.q_proj.weight`, [q, c.dim]);
    m.set(`${p}self_attn.k_proj.weight`, [kv, c.dim]);
    m.set(`${p}self_attn.v_proj.weight`, [kv, c.dim]);
    m.set(`${p}self_attn.o_proj.weight`, [c.dim, q]);
    if (c.attentionBias) {
      m.set(`${p}self_attn.q_proj.bias`, [q]);
      m.set(`${p}self_attn.k_proj.bias`, [kv]);
      m.set(`${p}self_attn.v_proj.bias`, [kv]);
    }
    m.set(`${p}post_attention_layernorm.weight`, [c.dim]);
    m.set(`${p}mlp.gate_proj.weight`, [c.hiddenDim, c.dim]);
    m.set(`${p}mlp.up_proj.weight`, [c.hiddenDim, c.dim]);
    m.set(`${p}mlp.down_proj.weight`, [c.dim, c.hiddenDim]);
  }
  m.set('model.norm.weight', [c.dim]);
  if (!c.tiedEmbeddings) m.set('lm_head.weight', [c.vocabSize, c.dim]);
  return m;
}

const qDim = (c: LlamaConfig) => c.nHeads * c.headDim;
const kvDim = (c: LlamaConfig) => c.nKvHeads * c.headDim;

/** The seven projections LoRA can attach to, as PEFT names them, with their [in, out] features. */
export const LLAMA_LORA_TARGETS: readonly LoraTargetSpec<LlamaConfig>[] = [
  { name: 'q_proj', module: 'self_attn.q_proj', shape: (c) => [c.dim, qDim(c)] },
  { name: 'k_proj', module: 'self_attn.k_proj', shape: (c) => [c.dim, kvDim(c)] },
  { name: 'v_proj', module: 'self_attn.v_proj', shape: (c) => [c.dim, kvDim(c)] },
  { name: 'o_proj', module: 'self_attn.o_proj', shape: (c) => [qDim(c), c.dim] },
  { name: 'gate_proj', module: 'mlp.gate_proj', shape: (c) => [c.dim, c.hiddenDim] },
  { name: 'up_proj', module: 'mlp.up_proj', shape: (c) => [c.dim, c.hiddenDim] },
  { name: 'down_proj', module: 'mlp.down_proj', shape: (c) => [c.hiddenDim, c.dim] },
];
