// The model-family seam: the registry finds a family by config.json and by ModelConfig.family,
// LoRA and adapters take target names, shapes and PEFT names from the family, and a model refuses
// an adapter or a tape that was made for another model.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Lora, loraTargetNames, parseTargets, peftModuleName, projectionShape } from '../../engine/lora.ts';
import { llama } from '../../engine/model/llama/family.ts';
import { configFromHF, familyOf, FAMILIES } from '../../engine/model/registry.ts';
import { randomBatch, randomLora, tinyConfig, tinyModel } from '../align/helpers_align.ts';
import { wasmBackend } from '../helpers.ts';

const be = await wasmBackend();

test('the registry: a family per config.json architecture / model_type, and per ModelConfig.family', () => {
  const json = { vocab_size: 16, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 32 };
  assert.is(configFromHF({ ...json, architectures: ['LlamaForCausalLM'] }, '/m').family, 'llama');
  assert.is(configFromHF({ ...json, model_type: 'qwen2' }, '/m').family, 'llama');
  assert.throws(() => configFromHF({ ...json, architectures: ['GPTNeoXForCausalLM'] }, '/m'),
    /unsupported architecture GPTNeoXForCausalLM in \/m\/config.json \(supported: LlamaForCausalLM, Qwen2ForCausalLM, OPTForCausalLM; model_type llama, qwen2, opt\)/);
  assert.is(familyOf(tinyConfig()), llama);
  assert.ok(FAMILIES.includes(llama));
  assert.throws(() => familyOf({ ...tinyConfig(), family: 'gpt2' } as never), /unknown model family 'gpt2' \(known: llama, opt\)/);
});

test('LoRA targets, shapes and PEFT names come from the family', () => {
  const c = tinyConfig(); // dim 16, 2 heads of 8, 1 kv head, hidden 24
  assert.equal(loraTargetNames(c), ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
  assert.equal(projectionShape(c, 'k_proj'), [16, 8]);
  assert.equal(projectionShape(c, 'down_proj'), [24, 16]);
  assert.is(peftModuleName(c, 1, 'up_proj'), 'base_model.model.model.layers.1.mlp.up_proj');
  assert.is(peftModuleName(c, 0, 'o_proj'), 'base_model.model.model.layers.0.self_attn.o_proj');
  assert.throws(() => projectionShape(c, 'fc1'), /unknown LoRA target module 'fc1' for llama models/);
  assert.throws(() => parseTargets('q_proj,fc9'), /unknown LoRA target module 'fc9' \(known: q_proj, k_proj/);
  const before = be.bytesInUse();
  assert.throws(() => Lora.create(be, c, { r: 2, alpha: 4, dropout: 0, targets: ['q_proj', 'fc1'], seed: 1 }), /'fc1' for llama models/);
  assert.is(be.bytesInUse(), before, 'a refused adapter allocates nothing');
  // modules follow the family's order whatever the order asked for
  const lora = Lora.create(be, c, { r: 2, alpha: 4, dropout: 0, targets: ['down_proj', 'q_proj'], seed: 1 });
  assert.equal(lora.modules.map((m) => `${m.layer}.${m.target}`), ['0.q_proj', '0.down_proj', '1.q_proj', '1.down_proj']);
  lora.dispose();
});

test('a model refuses an adapter made for other shapes, and a tape made by another model', () => {
  const model = tinyModel(be), other = tinyModel(be);
  const wide = randomLora(be, tinyConfig({ hiddenDim: 32 }));
  assert.throws(() => { model.lora = wide; }, /mlp.gate_proj \[16 -> 32\] does not fit this model/);
  assert.throws(() => model.mergeLora(wide), /does not fit this model/);
  assert.is(model.lora, null);
  const tape = other.forward(randomBatch(tinyConfig(), 1, 4, [4], 1), { training: false });
  assert.throws(() => model.backward(tape), /made by another model/);
  other.disposeTape(tape);
  wide.dispose(); model.dispose(); other.dispose();
});

test.run();
