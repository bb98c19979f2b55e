// The OPT family beyond the golden numbers (test/model/golden.test.ts): its config reader refuses
// what it cannot run naming the field, both checkpoint namings (model.decoder.* and decoder.*) and
// an untied head load to the same model, its LoRA targets and PEFT names, adapters saved and loaded,
// and a merged adapter computes what the attached one does.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadAdapter, saveAdapter } from '../../engine/adapter.ts';
import { readSafetensors, writeSafetensors } from '../../engine/io/safetensors.ts';
import { Lora, loraTargetNames, peftModuleName, projectionShape, resolveLoraTargets } from '../../engine/lora.ts';
import type { Batch } from '../../engine/model/causal_lm.ts';
import type { HostWeights } from '../../engine/model/family.ts';
import { loadModel } from '../../engine/model/load.ts';
import type { OPTConfig } from '../../engine/model/opt/config.ts';
import { buildModel, configFromHF, familyOf } from '../../engine/model/registry.ts';
import { randomBatch, randomLora, readGrads, tinyOPTConfig, tinyOPTModel } from '../align/helpers_align.ts';
import { scratchDir } from '../io/tmp.ts';
import { relErr, wasmBackend } from '../helpers.ts';

const be = await wasmBackend();
const GOLDEN = new URL('../fixtures/golden_opt/', import.meta.url).pathname;
const goldenJson = JSON.parse(readFileSync(join(GOLDEN, 'config.json'), 'utf8')) as Record<string, unknown>;

test('config.json: OPTForCausalLM (or model_type opt) is the OPT family, with its fields read', () => {
  const c = configFromHF(goldenJson, '/m') as OPTConfig;
  assert.equal(
    { family: c.family, vocabSize: c.vocabSize, dim: c.dim, ffnDim: c.ffnDim, nLayers: c.nLayers, nHeads: c.nHeads, headDim: c.headDim, wordEmbedDim: c.wordEmbedDim, maxSeqLen: c.maxSeqLen, tied: c.tiedEmbeddings, bos: c.bosId, eos: c.eosId },
    { family: 'opt', vocabSize: 80, dim: 24, ffnDim: 56, nLayers: 2, nHeads: 3, headDim: 8, wordEmbedDim: 16, maxSeqLen: 20, tied: true, bos: 2, eos: 2 });
  const { architectures: _a, word_embed_proj_dim: _w, ...byType } = goldenJson;
  const d = configFromHF(byType, '/m') as OPTConfig;
  assert.is(d.family, 'opt');
  assert.is(d.wordEmbedDim, 24, 'word_embed_proj_dim defaults to hidden_size (no project_in/out)');
});

test('a config asking for what the engine cannot run: one error naming the file and the field', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ do_layer_norm_before: false }, /\/m\/config.json: "do_layer_norm_before": false \(post-LayerNorm blocks, as in OPT-350m\) is not supported/],
    [{ activation_function: 'gelu' }, /\/m\/config.json: "activation_function" "gelu" is not supported \(OPT's MLP runs "relu"\)/],
    [{ activation_function: 'silu' }, /"activation_function" "silu" is not supported/],
    [{ _remove_final_layer_norm: true }, /\/m\/config.json: "_remove_final_layer_norm": true is not supported/],
    [{ enable_bias: false }, /\/m\/config.json: "enable_bias": false is not supported/],
    [{ layer_norm_elementwise_affine: false }, /\/m\/config.json: "layer_norm_elementwise_affine": false is not supported/],
    [{ num_attention_heads: 5 }, /\/m\/config.json: hidden_size 24 is not divisible by num_attention_heads 5/],
    [{ ffn_dim: undefined }, /\/m\/config.json: "ffn_dim" must be a positive integer, got undefined/],
    [{ word_embed_proj_dim: 0 }, /\/m\/config.json: "word_embed_proj_dim" must be a positive integer, got 0/],
    [{ eos_token_id: 80 }, /\/m\/config.json: eos_token_id 80 is outside the vocabulary \(80\)/],
  ];
  for (const [change, re] of cases) {
    assert.throws(() => configFromHF({ ...goldenJson, ...change }, '/m'), re, JSON.stringify(change));
  }
});

/** The golden OPT directory rewritten with other weight names (and config changes), under a scratch dir. */
function variant(tag: string, rename: (w: HostWeights) => HostWeights, configChange: Record<string, unknown> = {}): string {
  const dir = join(scratchDir(`opt-${tag}`), 'model');
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...goldenJson, ...configChange }));
  writeSafetensors(join(dir, 'model.safetensors'), rename(readSafetensors(join(GOLDEN, 'model.safetensors')).tensors));
  copyFileSync(join(GOLDEN, 'batch.json'), join(dir, 'batch.json'));
  return dir;
}

async function logitsOf(dir: string): Promise<Float32Array> {
  const { config, weights } = loadModel(dir);
  const b = JSON.parse(readFileSync(join(GOLDEN, 'batch.json'), 'utf8'));
  const batch: Batch = { B: b.B, T: b.T, ids: Int32Array.from(b.ids), labels: Int32Array.from(b.labels), lengths: Int32Array.from(b.lengths) };
  const model = buildModel(be, config, weights);
  const tape = model.forward(batch, { training: false });
  const out = await model.logits(tape).toFloat32();
  model.disposeTape(tape);
  model.dispose();
  return out;
}

test('weights named decoder.* (facebook/opt-*) or model.decoder.* (transformers), tied or with a copy as lm_head: one model', async () => {
  const stored = readSafetensors(join(GOLDEN, 'model.safetensors')).tensors;
  assert.ok([...stored.keys()].every((k) => k.startsWith('decoder.')), 'the fixture stores decoder.* names');
  const want = await logitsOf(GOLDEN);
  const prefixed = variant('prefixed', (w) => new Map([...w].map(([k, t]) => [`model.${k}`, t])));
  assert.equal(await logitsOf(prefixed), want, 'model.decoder.* names: the same logits, bit for bit');
  const withHead = (w: HostWeights) => new Map([...w, ['lm_head.weight', w.get('decoder.embed_tokens.weight')!]]);
  assert.equal(await logitsOf(variant('untied', withHead, { tie_word_embeddings: false })), want, 'an untied head holding the same values');
  assert.equal(await logitsOf(variant('tied-head', withHead)), want, 'tied: a stored lm_head is dropped');
  const noHead = variant('no-head', (w) => w, { tie_word_embeddings: false });
  assert.equal(loadModel(noHead).config.family, 'opt');
  assert.ok((loadModel(noHead).config as OPTConfig).tiedEmbeddings, 'no lm_head: the head is the embedding');
  const missing = variant('missing', (w) => { const m = new Map(w); m.delete('decoder.layers.1.fc2.bias'); return m; });
  assert.throws(() => loadModel(missing), /missing weight 'model.decoder.layers.1.fc2.bias' \(expected shape \[24\]\)/);
});

test('LoRA on OPT: its six targets, shapes and PEFT names; a Llama-only name is refused', () => {
  const c = tinyOPTConfig(); // dim 16, ffn 24
  assert.equal(loraTargetNames(c), ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'fc1', 'fc2']);
  assert.equal(resolveLoraTargets('all', c), loraTargetNames(c));
  assert.equal(resolveLoraTargets(['fc2', 'q_proj'], c), ['fc2', 'q_proj']);
  assert.equal(projectionShape(c, 'out_proj'), [16, 16]);
  assert.equal(projectionShape(c, 'fc1'), [16, 24]);
  assert.equal(projectionShape(c, 'fc2'), [24, 16]);
  assert.is(peftModuleName(c, 1, 'out_proj'), 'base_model.model.model.decoder.layers.1.self_attn.out_proj');
  assert.is(peftModuleName(c, 0, 'fc1'), 'base_model.model.model.decoder.layers.0.fc1');
  assert.is(familyOf(c).loraRowOrder(c, 'q_proj'), null);
  assert.throws(() => Lora.create(be, c, { r: 2, alpha: 4, dropout: 0, targets: ['q_proj', 'o_proj'], seed: 1 }),
    /unknown LoRA target module 'o_proj' for opt models \(known: q_proj, k_proj, v_proj, out_proj, fc1, fc2\)/);
});

test('an OPT adapter saves under PEFT names and loads back the same', async () => {
  const c = tinyOPTConfig();
  const lora = randomLora(be, c);
  const dir = scratchDir('opt-adapter');
  await saveAdapter(dir, lora, c);
  const names = [...readSafetensors(join(dir, 'adapter_model.safetensors')).tensors.keys()].sort();
  assert.ok(names.includes('base_model.model.model.decoder.layers.1.self_attn.out_proj.lora_B.weight'));
  assert.ok(names.includes('base_model.model.model.decoder.layers.0.fc2.lora_A.weight'));
  assert.is(names.length, 2 * 6 * c.nLayers);
  assert.equal(JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')).target_modules, loraTargetNames(c));
  const back = loadAdapter(be, c, dir);
  for (let i = 0; i < lora.modules.length; i++) {
    assert.equal(await back.modules[i].A.toFloat32(), await lora.modules[i].A.toFloat32());
    assert.equal(await back.modules[i].B.toFloat32(), await lora.modules[i].B.toFloat32());
  }
  back.dispose(); lora.dispose();
});

test('mergeLora: the merged base alone computes what the base with the adapter attached does (rel 1e-5)', async () => {
  const c = tinyOPTConfig();
  const batch = randomBatch(c, 2, 7, [7, 4], 2);
  const run = async (withAdapter: boolean) => {
    const model = tinyOPTModel(be);
    const lora = randomLora(be, c);
    if (withAdapter) model.lora = lora; else model.mergeLora(lora);
    const tape = model.forward(batch, { training: false });
    const logits = await model.logits(tape).toFloat32();
    model.disposeTape(tape);
    lora.dispose(); model.dispose();
    return logits;
  };
  const attached = await run(true), merged = await run(false);
  assert.ok(relErr(merged, attached) < 1e-5, `logits rel err ${relErr(merged, attached)} (tol 1e-5)`);
});

test('without project_in/out (word_embed_proj_dim = hidden_size), with an untied head: training step and no leaks', async () => {
  const c = tinyOPTConfig({ wordEmbedDim: 16, tiedEmbeddings: false });
  const before = be.bytesInUse();
  const model = tinyOPTModel(be, c);
  model.lora = randomLora(be, c, 4, 8, 0.1);
  const batch = randomBatch(c, 3, 8, [8, 5, 2], 1);
  const tape = model.forward(batch, { training: true, dropoutSeed: 3 });
  const loss = await model.loss(tape);
  assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss}`);
  const { attnOutGrads } = model.backward(tape, { attnOutGrads: true });
  assert.is(attnOutGrads!.length, c.nLayers);
  const grads = await readGrads(model.lora);
  assert.ok(grads.every((g) => g.some((x) => x !== 0)), 'every LoRA gradient is non-zero');
  attnOutGrads!.forEach((g) => g.dispose());
  model.disposeTape(tape);
  model.lora.dispose(); model.dispose();
  assert.is(be.bytesInUse(), before, 'every buffer is returned');
});

test.run();
