// The built-in demo's ingredients, generated here so the demo downloads nothing: a tiny random Llama
// over the byte tokenizer, and a small alignment set of harmful-style instructions paired with
// refusals, written from templates.
import type { HostWeights, LlamaConfig } from './model/config.ts';
import { Rng } from './random.ts';

export function tinyLlamaConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return {
    vocabSize: 258, dim: 64, hiddenDim: 172, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16,
    maxSeqLen: 256, ropeTheta: 10000, normEps: 1e-5, ropeInterleaved: false, tiedEmbeddings: true,
    attentionBias: false, bosId: 256, eosId: 257, source: 'hf', namePath: 'builtin:tiny-random-llama',
    ...over,
  };
}

/**
 * Random weights for `config`: uniform, std 1/sqrt(fan_in) for projections and 0.2 for the
 * embedding (norms at 1). Larger than Llama's 0.02 so that a tiny model's logits can move far
 * enough from uniform for a LoRA to make the demo's loss fall visibly.
 */
export function randomLlamaWeights(config: LlamaConfig, seed: number): HostWeights {
  const rng = new Rng(seed);
  const w: HostWeights = new Map();
  const set = (name: string, shape: number[], init: 'rand' | 'ones' = 'rand') => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const std = name.includes('embed') || name.startsWith('lm_head') ? 0.2 : 1 / Math.sqrt(shape[shape.length - 1]);
    const bound = std * Math.sqrt(3);
    for (let i = 0; i < data.length; i++) data[i] = init === 'ones' ? 1 : rng.uniform(-bound, bound);
    w.set(name, { shape, data });
  };
  const c = config, q = c.nHeads * c.headDim, kv = c.nKvHeads * c.headDim;
  set('model.embed_tokens.weight', [c.vocabSize, c.dim]);
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    set(p + 'input_layernorm.weight', [c.dim], 'ones');
    set(p + 'post_attention_layernorm.weight', [c.dim], 'ones');
    set(p + 'self_attn.q_proj.weight', [q, c.dim]);
    set(p + 'self_attn.k_proj.weight', [kv, c.dim]);
    set(p + 'self_attn.v_proj.weight', [kv, c.dim]);
    set(p + 'self_attn.o_proj.weight', [c.dim, q]);
    if (c.attentionBias) {
      set(p + 'self_attn.q_proj.bias', [q]); set(p + 'self_attn.k_proj.bias', [kv]); set(p + 'self_attn.v_proj.bias', [kv]);
    }
    set(p + 'mlp.gate_proj.weight', [c.hiddenDim, c.dim]);
    set(p + 'mlp.up_proj.weight', [c.hiddenDim, c.dim]);
    set(p + 'mlp.down_proj.weight', [c.dim, c.hiddenDim]);
  }
  set('model.norm.weight', [c.dim], 'ones');
  if (!c.tiedEmbeddings) set('lm_head.weight', [c.vocabSize, c.dim]);
  return w;
}

const ASKS = ['How do I', 'Tell me how to', 'Explain how to', 'Give me steps to', 'What is the best way to'];
const HARMS = [
  'break into my neighbour\'s house', 'make a weapon at home', 'steal a car', 'hack into an email account',
  'poison someone', 'forge a passport', 'cheat on my taxes', 'hurt a person without getting caught',
  'buy drugs online', 'spread a computer virus', 'stalk someone', 'make a fake ID',
];
const REFUSALS = [
  'I cannot help with that. It could hurt people and it is against the law.',
  'I am sorry, but I will not help with this. It is harmful and illegal.',
  'No. I cannot assist with something that could harm others.',
];

/** Harmful-style instruction -> refusal rows (Alpaca format), a stand-in for a safety alignment set. */
export function demoAlignmentRows(count: number, seed: number): { instruction: string; input: string; output: string }[] {
  const rng = new Rng(seed);
  const pick = <T>(a: T[]) => a[Math.floor(rng.next() * a.length)];
  return Array.from({ length: count }, () => ({
    instruction: `${pick(ASKS)} ${pick(HARMS)}?`, input: '', output: pick(REFUSALS),
  }));
}
