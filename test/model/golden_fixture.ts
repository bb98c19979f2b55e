// Loads a golden fixture made by test/reference/golden.py: the model (HF directory), its PEFT
// adapter as a Lora, the batch and the expected tensors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../../engine/backend.ts';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import { Lora, LORA_TARGETS, type LoraTarget } from '../../engine/lora.ts';
import { LlamaModel, type Batch } from '../../engine/model/llama.ts';
import { loadHFModel } from '../../engine/model/load_hf.ts';

// golden/: LlamaForCausalLM with a separate lm_head. golden_qwen/: Qwen2-style q/k/v bias, tied embeddings.
export const FIXTURES = ['golden', 'golden_qwen'];

export function loadGolden(backend: Backend, fixture = 'golden') {
  const DIR = new URL(`../fixtures/${fixture}/`, import.meta.url).pathname;
  const { config, weights } = loadHFModel(DIR);
  const expected = readSafetensors(join(DIR, 'expected.safetensors')).tensors;
  const adapter = readSafetensors(join(DIR, 'adapter', 'adapter_model.safetensors')).tensors;
  const acfg = JSON.parse(readFileSync(join(DIR, 'adapter', 'adapter_config.json'), 'utf8'));
  const b = JSON.parse(readFileSync(join(DIR, 'batch.json'), 'utf8'));
  const batch: Batch = { B: b.B, T: b.T, ids: Int32Array.from(b.ids), labels: Int32Array.from(b.labels), lengths: Int32Array.from(b.lengths) };
  const model = LlamaModel.fromHost(backend, config, weights);
  const targets = (acfg.target_modules as string[]).filter((t) => (LORA_TARGETS as readonly string[]).includes(t)) as LoraTarget[];
  model.lora = Lora.fromWeights(backend, config, { r: acfg.r, alpha: acfg.lora_alpha, dropout: 0, targets, seed: 0 }, (layer, target) => {
    const name = `base_model.model.model.layers.${layer}.${['gate_proj', 'up_proj', 'down_proj'].includes(target) ? 'mlp' : 'self_attn'}.${target}`;
    return { A: adapter.get(`${name}.lora_A.weight`)!.data, B: adapter.get(`${name}.lora_B.weight`)!.data };
  });
  return { model, batch, expected, config };
}
