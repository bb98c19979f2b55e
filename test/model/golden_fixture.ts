// Loads a golden fixture made by test/reference/golden.py: the model (HF directory), its PEFT
// adapter (through the engine's own PEFT loader), the batch and the expected tensors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../../engine/backend.ts';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import { loadAdapter } from '../../engine/adapter.ts';
import type { Batch } from '../../engine/model/causal_lm.ts';
import { loadHFModel } from '../../engine/model/load_hf.ts';
import { buildModel } from '../../engine/model/registry.ts';

// golden/: LlamaForCausalLM with a separate lm_head. golden_qwen/: Qwen2-style q/k/v bias, tied embeddings.
// golden_opt/: OPTForCausalLM with project_in/out, its weights named decoder.* as facebook/opt-* store them.
export const FIXTURES = ['golden', 'golden_qwen', 'golden_opt'];

export function loadGolden(backend: Backend, fixture = 'golden') {
  const DIR = new URL(`../fixtures/${fixture}/`, import.meta.url).pathname;
  const { config, weights } = loadHFModel(DIR);
  const expected = readSafetensors(join(DIR, 'expected.safetensors')).tensors;
  const b = JSON.parse(readFileSync(join(DIR, 'batch.json'), 'utf8'));
  const batch: Batch = { B: b.B, T: b.T, ids: Int32Array.from(b.ids), labels: Int32Array.from(b.labels), lengths: Int32Array.from(b.lengths) };
  const model = buildModel(backend, config, weights);
  model.lora = loadAdapter(backend, config, join(DIR, 'adapter'), { dropout: 0 });
  return { model, batch, expected, config };
}
