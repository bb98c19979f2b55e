// Model hyper-parameters and host-side weights, shared by the loaders and the model.
// configFromHF maps a Hugging Face config.json onto LlamaConfig and rejects what the engine cannot run.

export interface LlamaConfig {
  vocabSize: number; dim: number; hiddenDim: number; nLayers: number; nHeads: number; nKvHeads: number;
  headDim: number;            // usually dim / nHeads
  maxSeqLen: number; ropeTheta: number; normEps: number;
  ropeInterleaved: boolean;   // true for llama2.c checkpoints (pairs 2j,2j+1), false for HF (rotate-half)
  tiedEmbeddings: boolean;    // lm_head shares embed_tokens
  attentionBias: boolean;     // Qwen2-style q/k/v bias
  bosId: number; eosId: number;
  source: 'hf' | 'llama2c';
  namePath: string;           // what was loaded (for base_model_name_or_path)
}

/** Host-side weights as loaded (HF names, f32). */
export interface HostTensor { shape: number[]; data: Float32Array }
export type HostWeights = Map<string, HostTensor>;

const ARCHITECTURES: Record<string, { attentionBias: boolean }> = {
  LlamaForCausalLM: { attentionBias: false },
  Qwen2ForCausalLM: { attentionBias: true },
};
const MODEL_TYPES: Record<string, { attentionBias: boolean }> = {
  llama: { attentionBias: false },
  qwen2: { attentionBias: true },
};

/**
 * LlamaConfig from a parsed config.json. `path` is the model directory (or the config file),
 * named in every error so the user knows which file to fix.
 */
export function configFromHF(json: unknown, path: string): LlamaConfig {
  const file = path.endsWith('.json') ? path : `${path.replace(/\/+$/, '')}/config.json`;
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${file}: expected a JSON object`);
  }
  const c = json as Record<string, unknown>;
  const supported = `supported: ${Object.keys(ARCHITECTURES).join(', ')}; model_type ${Object.keys(MODEL_TYPES).join(', ')}`;
  let family: { attentionBias: boolean } | undefined;
  const archs = c.architectures;
  if (Array.isArray(archs) && archs.length > 0) {
    const arch = String(archs[0]);
    family = ARCHITECTURES[arch];
    if (!family) throw new Error(`unsupported architecture ${arch} in ${file} (${supported})`);
  } else if (typeof c.model_type === 'string') {
    family = MODEL_TYPES[c.model_type];
    if (!family) throw new Error(`unsupported architecture ${c.model_type} in ${file} (${supported})`);
  } else {
    throw new Error(`unsupported architecture (none given: no "architectures" or "model_type") in ${file} (${supported})`);
  }
  // Sliding-window attention changes the model's function; refuse it rather than run it wrongly.
  if (c.use_sliding_window === true) {
    throw new Error(`${file}: use_sliding_window=true is not supported (full attention only)`);
  }

  if (c.mlp_bias === true) throw new Error(`${file}: mlp_bias=true is not supported`);

  const posInt = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new Error(`${file}: "${key}" must be a positive integer, got ${JSON.stringify(c[key])}`);
    }
    return v;
  };
  const posNum = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new Error(`${file}: "${key}" must be a positive number, got ${JSON.stringify(c[key])}`);
    }
    return v;
  };
  const tokenId = (key: string, fallback: number): number => {
    let v = c[key];
    if (Array.isArray(v)) v = v[0];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new Error(`${file}: "${key}" must be a non-negative integer (or a list of them), got ${JSON.stringify(c[key])}`);
    }
    return v;
  };

  const vocabSize = posInt('vocab_size');
  const dim = posInt('hidden_size');
  const hiddenDim = posInt('intermediate_size');
  const nLayers = posInt('num_hidden_layers');
  const nHeads = posInt('num_attention_heads');
  const nKvHeads = posInt('num_key_value_heads', nHeads);
  if (dim % nHeads !== 0 && c.head_dim === undefined) {
    throw new Error(`${file}: hidden_size ${dim} is not divisible by num_attention_heads ${nHeads} (and no head_dim given)`);
  }
  const headDim = posInt('head_dim', dim / nHeads);
  if (nHeads % nKvHeads !== 0) {
    throw new Error(`${file}: num_attention_heads ${nHeads} is not a multiple of num_key_value_heads ${nKvHeads}`);
  }
  if (headDim % 2 !== 0) throw new Error(`${file}: head_dim ${headDim} must be even (RoPE rotates pairs)`);
  const maxSeqLen = posInt('max_position_embeddings');
  const ropeTheta = posNum('rope_theta', 10000);
  const normEps = posNum('rms_norm_eps', 1e-6);
  const scaling = c.rope_scaling;
  if (scaling !== undefined && scaling !== null) {
    throw new Error(`${file}: rope_scaling ${JSON.stringify(scaling)} is not supported`);
  }
  const boolKey = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'boolean') throw new Error(`${file}: "${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const tiedEmbeddings = boolKey('tie_word_embeddings', false);
  // Qwen2 always has q/k/v bias; Llama only when attention_bias says so.
  const attentionBias = family.attentionBias || boolKey('attention_bias', false);
  const bosId = tokenId('bos_token_id', 1);
  const eosId = tokenId('eos_token_id', 2);
  if (bosId >= vocabSize) throw new Error(`${file}: bos_token_id ${bosId} is outside the vocabulary (${vocabSize})`);
  if (eosId >= vocabSize) throw new Error(`${file}: eos_token_id ${eosId} is outside the vocabulary (${vocabSize})`);

  return {
    vocabSize, dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim, maxSeqLen, ropeTheta, normEps,
    ropeInterleaved: false, tiedEmbeddings, attentionBias, bosId, eosId, source: 'hf',
    namePath: path,
  };
}

/** Every weight the model needs, with its expected shape. lm_head only when untied. */
export function expectedWeightShapes(c: LlamaConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const q = c.nHeads * c.headDim, kv = c.nKvHeads * c.headDim;
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

/** Throws naming the first missing or misshaped weight; `where` names the checkpoint. */
export function checkWeights(c: LlamaConfig, weights: HostWeights, where: string): void {
  for (const [name, shape] of expectedWeightShapes(c)) {
    const t = weights.get(name);
    if (!t) throw new Error(`${where}: missing weight '${name}' (expected shape [${shape}])`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${where}: weight '${name}' has shape [${t.shape}], expected [${shape}]`);
    }
  }
}
