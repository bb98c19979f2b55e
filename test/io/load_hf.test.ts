// Hugging Face model directories: config.json mapping, single and sharded safetensors, tied
// embeddings, Qwen2 biases, and clear errors for what cannot be loaded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from '../../engine/io/safetensors.ts';
import type { HostTensor, ModelConfig } from '../../engine/model/family.ts';
import type { LlamaConfig } from '../../engine/model/llama/config.ts';
import { loadModel as loadAnyModel } from '../../engine/model/load.ts';
import { configFromHF } from '../../engine/model/registry.ts';
import { rand } from '../helpers.ts';
import { scratchDir } from './tmp.ts';

// Every config here is a Llama-family one.
const loadModel = (path: string) => loadAnyModel(path) as { config: LlamaConfig & ModelConfig; weights: Map<string, HostTensor> };

const BASE = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 16, hidden_size: 8, intermediate_size: 12,
  num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 32,
  rope_theta: 500000, rms_norm_eps: 1e-5, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: [2, 7],
};

/** Weights for a config (random values, seeded per tensor) written the HF way. */
function makeWeights(c: { V: number; D: number; H: number; L: number; q: number; kv: number; bias?: boolean; lmHead?: boolean }): Map<string, HostTensor> {
  const m = new Map<string, HostTensor>();
  let seed = 1;
  const add = (name: string, shape: number[]) => m.set(name, { shape, data: rand(shape.reduce((a, b) => a * b, 1), seed++) });
  add('model.embed_tokens.weight', [c.V, c.D]);
  for (let i = 0; i < c.L; i++) {
    const p = `model.layers.${i}.`;
    add(`${p}input_layernorm.weight`, [c.D]);
    add(`${p}self_attn.q_proj.weight`, [c.q, c.D]);
    add(`${p}self_attn.k_proj.weight`, [c.kv, c.D]);
    add(`${p}self_attn.v_proj.weight`, [c.kv, c.D]);
    add(`${p}self_attn.o_proj.weight`, [c.D, c.q]);
    if (c.bias) { add(`${p}self_attn.q_proj.bias`, [c.q]); add(`${p}self_attn.k_proj.bias`, [c.kv]); add(`${p}self_attn.v_proj.bias`, [c.kv]); }
    add(`${p}post_attention_layernorm.weight`, [c.D]);
    add(`${p}mlp.gate_proj.weight`, [c.H, c.D]);
    add(`${p}mlp.up_proj.weight`, [c.H, c.D]);
    add(`${p}mlp.down_proj.weight`, [c.D, c.H]);
  }
  add('model.norm.weight', [c.D]);
  if (c.lmHead !== false) add('lm_head.weight', [c.V, c.D]);
  return m;
}
const DIMS = { V: 16, D: 8, H: 12, L: 2, q: 8, kv: 4 };

function modelDir(config: unknown, weights: Map<string, HostTensor>): string {
  const d = scratchDir('hf');
  writeFileSync(join(d, 'config.json'), JSON.stringify(config));
  writeSafetensors(join(d, 'model.safetensors'), weights);
  return d;
}

function errorOf(fn: () => unknown): string {
  try { fn(); } catch (e) { return (e as Error).message; }
  assert.unreachable('expected an error');
  return '';
}

test('Llama directory: config fields and weights as written', () => {
  const w = makeWeights(DIMS);
  const d = modelDir(BASE, w);
  const { config, weights } = loadModel(d);
  assert.equal(config, {
    family: 'llama', vocabSize: 16, dim: 8, hiddenDim: 12, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 2, maxSeqLen: 32,
    ropeTheta: 500000, normEps: 1e-5, ropeInterleaved: false, tiedEmbeddings: false, attentionBias: false,
    bosId: 1, eosId: 2, source: 'hf', namePath: d,
  });
  assert.is(weights.size, w.size);
  for (const [k, v] of w) {
    assert.equal(weights.get(k)!.shape, v.shape);
    assert.equal([...weights.get(k)!.data], [...v.data], k); // exact (F32 round trip)
  }
});

test('tied embeddings: no lm_head, or tie_word_embeddings=true drops a stored copy', () => {
  const noHead = loadModel(modelDir(BASE, makeWeights({ ...DIMS, lmHead: false })));
  assert.is(noHead.config.tiedEmbeddings, true);
  assert.is(noHead.weights.has('lm_head.weight'), false);
  const tied = loadModel(modelDir({ ...BASE, tie_word_embeddings: true }, makeWeights(DIMS)));
  assert.is(tied.config.tiedEmbeddings, true);
  assert.is(tied.weights.has('lm_head.weight'), false);
});

test('Qwen2: attention biases required and loaded; defaults for kv heads, theta and head_dim', () => {
  const cfg = { architectures: ['Qwen2ForCausalLM'], vocab_size: 16, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2,
    num_attention_heads: 2, max_position_embeddings: 32, rms_norm_eps: 1e-6, tie_word_embeddings: true, eos_token_id: 3 };
  const w = makeWeights({ ...DIMS, kv: 8, bias: true, lmHead: false });
  const { config, weights } = loadModel(modelDir(cfg, w));
  assert.is(config.attentionBias, true);
  assert.is(config.nKvHeads, 2);
  assert.is(config.headDim, 4);
  assert.is(config.ropeTheta, 10000);
  assert.is(config.eosId, 3);
  assert.equal([...weights.get('model.layers.1.self_attn.k_proj.bias')!.data], [...w.get('model.layers.1.self_attn.k_proj.bias')!.data]);
  w.delete('model.layers.1.self_attn.v_proj.bias');
  const d = modelDir(cfg, w);
  assert.ok(errorOf(() => loadModel(d)).includes(`${join(d, 'model.safetensors')}: missing weight 'model.layers.1.self_attn.v_proj.bias' (expected shape [8])`));
});

test('missing or misshaped weight is named', () => {
  const w = makeWeights(DIMS);
  w.delete('model.layers.1.mlp.up_proj.weight');
  assert.ok(errorOf(() => loadModel(modelDir(BASE, w))).includes("missing weight 'model.layers.1.mlp.up_proj.weight' (expected shape [12,8])"));
  const w2 = makeWeights(DIMS);
  w2.set('model.layers.0.self_attn.k_proj.weight', { shape: [8, 8], data: new Float32Array(64) });
  assert.ok(errorOf(() => loadModel(modelDir(BASE, w2))).includes("weight 'model.layers.0.self_attn.k_proj.weight' has shape [8,8], expected [4,8]"));
});

test('unsupported architecture and invalid config values are rejected naming config.json', () => {
  const d = modelDir({ ...BASE, architectures: ['GPT2LMHeadModel'] }, makeWeights(DIMS));
  const msg = errorOf(() => loadModel(d));
  assert.ok(msg.includes(`unsupported architecture GPT2LMHeadModel in ${join(d, 'config.json')} (supported: LlamaForCausalLM, Qwen2ForCausalLM`), msg);
  const { architectures: _, ...noArch } = BASE;
  assert.ok(errorOf(() => configFromHF({ ...noArch, model_type: 'mistral' }, '/m')).includes('unsupported architecture mistral in /m/config.json'));
  assert.ok(errorOf(() => configFromHF({ ...BASE, num_key_value_heads: 3 }, '/m')).includes('/m/config.json: num_attention_heads 4 is not a multiple of num_key_value_heads 3'));
  assert.ok(errorOf(() => configFromHF({ ...BASE, hidden_size: 10 }, '/m')).includes('hidden_size 10 is not divisible by num_attention_heads 4'));
  assert.ok(errorOf(() => configFromHF({ ...BASE, vocab_size: 0 }, '/m')).includes('"vocab_size" must be a positive integer, got 0'));
  assert.ok(errorOf(() => configFromHF({ ...BASE, num_hidden_layers: 2.5 }, '/m')).includes('"num_hidden_layers" must be a positive integer'));
  assert.ok(errorOf(() => configFromHF({ ...BASE, eos_token_id: 99 }, '/m')).includes('eos_token_id 99 is outside the vocabulary (16)'));
  assert.ok(errorOf(() => configFromHF({ ...BASE, rope_scaling: { type: 'linear', factor: 2 } }, '/m')).includes('rope_scaling'));
  assert.ok(errorOf(() => configFromHF({ ...BASE, mlp_bias: true }, '/m')).includes('/m/config.json: mlp_bias=true is not supported'));
  assert.ok(errorOf(() => configFromHF({ ...BASE, use_sliding_window: true }, '/m')).includes('use_sliding_window=true is not supported'));
  const bad = scratchDir('hfbad');
  writeFileSync(join(bad, 'config.json'), '{"architectures": [');
  assert.ok(errorOf(() => loadModel(bad)).includes(`${join(bad, 'config.json')}: not valid JSON`));
  const empty = scratchDir('hfempty');
  assert.ok(errorOf(() => loadModel(empty)).includes(`${join(empty, 'config.json')}: missing`));
  writeFileSync(join(empty, 'config.json'), JSON.stringify(BASE));
  assert.ok(errorOf(() => loadModel(empty)).includes('no model.safetensors or model.safetensors.index.json'));
  assert.ok(errorOf(() => loadModel(join(empty, 'nothing'))).includes(`model not found: ${join(empty, 'nothing')}`));
});

test('sharded checkpoint loads; an index pointing at a missing shard is named', () => {
  const d = scratchDir('hfshard');
  writeFileSync(join(d, 'config.json'), JSON.stringify(BASE));
  const w = makeWeights(DIMS);
  const names = [...w.keys()];
  const half = Math.floor(names.length / 2);
  const shardOf = (i: number) => (i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors');
  writeSafetensors(join(d, shardOf(0)), new Map(names.slice(0, half).map((n) => [n, w.get(n)!])));
  writeSafetensors(join(d, shardOf(half)), new Map(names.slice(half).map((n) => [n, w.get(n)!])));
  const index = join(d, 'model.safetensors.index.json');
  writeFileSync(index, JSON.stringify({ weight_map: Object.fromEntries(names.map((n, i) => [n, shardOf(i)])) }));
  const { weights } = loadModel(d);
  for (const [k, v] of w) assert.equal([...weights.get(k)!.data], [...v.data], k); // exact
  writeFileSync(index, JSON.stringify({ weight_map: Object.fromEntries(names.map((n, i) => [n, i < half ? shardOf(i) : 'model-00002-of-00003.safetensors'])) }));
  const msg = errorOf(() => loadModel(d));
  assert.ok(msg.includes("model.safetensors.index.json: shard 'model-00002-of-00003.safetensors'") && msg.includes('not found at'), msg);
});

test.run();
