// Hugging Face checkpoint directory -> LlamaConfig + f32 host weights with HF names.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, readShardedSafetensors } from '../io/safetensors.ts';
import { configFromHF, type HostWeights, type LlamaConfig } from './config.ts';

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

export function loadHFModel(dir: string): { config: LlamaConfig; weights: HostWeights } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`model not found: ${dir}`);
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new Error(`${configPath}: missing (a Hugging Face model directory needs config.json)`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw new Error(`${configPath}: not valid JSON: ${(e as Error).message}`);
  }
  const config = configFromHF(json, dir);

  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  let weights: HostWeights;
  let where: string;
  if (existsSync(single)) {
    weights = readSafetensors(single).tensors;
    where = single;
  } else if (existsSync(index)) {
    weights = readShardedSafetensors(index).tensors;
    where = index;
  } else {
    throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported)`);
  }
  // Checkpoints with tie_word_embeddings=false but no lm_head exist; sharing is the only sensible reading.
  if (!weights.has('lm_head.weight')) config.tiedEmbeddings = true;
  if (config.tiedEmbeddings) weights.delete('lm_head.weight');
  checkWeights(config, weights, where);
  return { config, weights };
}
