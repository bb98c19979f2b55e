// PEFT adapters on disk: exact round trips, the documented format (names, shapes, dtype, config
// fields), llama2.c <-> HF q/k row order, and clear errors for adapters that do not fit the model.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AdapterError, loadAdapter, saveAdapter } from '../../engine/adapter.ts';
import { randomLlamaWeights } from '../../engine/demo.ts';
import { readSafetensorsHeader } from '../../engine/io/safetensors.ts';
import { Lora, loraTargetNames } from '../../engine/lora.ts';
import type { HostWeights } from '../../engine/model/family.ts';
import { loadModel } from '../../engine/model/load.ts';
import { permuteQKRowsToHF } from '../../engine/model/llama/llama2c.ts';
import { LlamaModel } from '../../engine/model/llama/model.ts';
import { buildModel } from '../../engine/model/registry.ts';
import { relErr, wasmBackend } from '../helpers.ts';
import { randomBatch, randomLora, tinyConfig } from './helpers_align.ts';

const be = await wasmBackend();
const tmp = () => mkdtempSync(join(tmpdir(), 'adapter-test-'));

async function tensorsOf(lora: Lora): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const m of lora.modules) out.push(await m.A.toFloat32(), await m.B.toFloat32());
  return out;
}

test('save then load gives bit-identical tensors (HF and llama2.c models)', async () => {
  for (const source of ['hf', 'llama2c'] as const) {
    const config = tinyConfig({ source, ropeInterleaved: source === 'llama2c' });
    const dir = tmp();
    const lora = randomLora(be, config);
    await saveAdapter(dir, lora, config);
    const back = loadAdapter(be, config, dir);
    assert.is(back.options.r, 4); assert.is(back.options.alpha, 8);
    assert.equal(back.options.targets, loraTargetNames(config));
    const a = await tensorsOf(lora), b = await tensorsOf(back);
    a.forEach((x, i) => assert.equal(Array.from(b[i]), Array.from(x), `tensor ${i} (${source})`));
    lora.dispose(); back.dispose(); rmSync(dir, { recursive: true });
  }
});

test('PEFT format: tensor names, F32 shapes [r,in] / [out,r], adapter_config.json fields', async () => {
  const config = tinyConfig();
  const dir = tmp();
  const lora = Lora.create(be, config, { r: 4, alpha: 8, dropout: 0.1, targets: ['q_proj', 'v_proj', 'down_proj'], seed: 1 });
  await saveAdapter(dir, lora, config);
  const header = readSafetensorsHeader(join(dir, 'adapter_model.safetensors'));
  const names = header.entries.map((e) => e.name).sort();
  const want: string[] = [];
  for (let l = 0; l < 2; l++) {
    for (const ab of ['A', 'B']) {
      want.push(`base_model.model.model.layers.${l}.self_attn.q_proj.lora_${ab}.weight`,
        `base_model.model.model.layers.${l}.self_attn.v_proj.lora_${ab}.weight`,
        `base_model.model.model.layers.${l}.mlp.down_proj.lora_${ab}.weight`);
    }
  }
  assert.equal(names, want.sort());
  const shape = (n: string) => header.entries.find((e) => e.name === n)!.shape;
  // q: in dim 16 -> out nHeads*hd 16; v: 16 -> nKv*hd 8; down: hidden 24 -> 16
  assert.equal(shape('base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight'), [4, 16]);
  assert.equal(shape('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight'), [8, 4]);
  assert.equal(shape('base_model.model.model.layers.0.mlp.down_proj.lora_A.weight'), [4, 24]);
  assert.equal(shape('base_model.model.model.layers.0.mlp.down_proj.lora_B.weight'), [16, 4]);
  assert.ok(header.entries.every((e) => e.dtype === 'F32'));
  const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
  assert.equal(cfg, {
    r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['q_proj', 'v_proj', 'down_proj'], peft_type: 'LORA',
    task_type: 'CAUSAL_LM', base_model_name_or_path: 'test:tiny', bias: 'none', fan_in_fan_out: false, inference_mode: true,
  });
  lora.dispose(); rmSync(dir, { recursive: true });
});

test('a llama2.c adapter, saved in HF row order, gives the same logits on the HF-converted model (rel 1e-5)', async () => {
  const l2c = tinyConfig({ source: 'llama2c', ropeInterleaved: true });
  const hf = tinyConfig({ source: 'hf', ropeInterleaved: false });
  const w = randomLlamaWeights(l2c, 5);
  // HF's conversion: q/k rows permuted per head
  const wHF: HostWeights = new Map(w);
  for (let l = 0; l < l2c.nLayers; l++) {
    for (const [name, heads] of [['q_proj', l2c.nHeads], ['k_proj', l2c.nKvHeads]] as const) {
      const key = `model.layers.${l}.self_attn.${name}.weight`;
      const t = w.get(key)!;
      wHF.set(key, { shape: t.shape, data: permuteQKRowsToHF(t.data, heads, l2c.headDim, l2c.dim) });
    }
  }
  const m1 = LlamaModel.fromHost(be, l2c, w), m2 = LlamaModel.fromHost(be, hf, wHF);
  m1.lora = randomLora(be, l2c);
  const dir = tmp();
  await saveAdapter(dir, m1.lora, l2c);
  m2.lora = loadAdapter(be, hf, dir);
  // the saved q_proj B is the llama2.c B with its rows permuted (A is untouched)
  const qB1 = await m1.lora.get(0, 'q_proj')!.B.toFloat32(), qB2 = await m2.lora.get(0, 'q_proj')!.B.toFloat32();
  assert.equal(Array.from(qB2), Array.from(permuteQKRowsToHF(qB1, l2c.nHeads, l2c.headDim, 4)));
  assert.not.equal(Array.from(qB2), Array.from(qB1));
  const batch = randomBatch(l2c, 2, 7, [7, 5], 1);
  const t1 = m1.forward(batch, { training: false }), t2 = m2.forward(batch, { training: false });
  const err = relErr(await m2.logits(t2).toFloat32(), await m1.logits(t1).toFloat32());
  assert.ok(err < 1e-5, `logits rel err ${err} (1e-5)`);
  m1.disposeTape(t1); m2.disposeTape(t2);
  for (const m of [m1, m2]) { m.lora!.dispose(); m.dispose(); }
  rmSync(dir, { recursive: true });
});

test('an adapter that does not fit the model is a clear AdapterError', async () => {
  const config = tinyConfig();
  const dir = tmp();
  const lora = randomLora(be, config);
  await saveAdapter(dir, lora, config);
  lora.dispose();
  const cases: [Partial<typeof config>, RegExp][] = [
    [{ hiddenDim: 32 }, /gate_proj\.lora_B\.weight has shape \[24, 4\] but this model needs \[32, 4\]/],
    [{ nLayers: 3 }, /layers\.2\..*is missing/],
    [{ nLayers: 1 }, /do not fit this model/],
  ];
  for (const [over, re] of cases) {
    const before = be.bytesInUse();
    try { loadAdapter(be, tinyConfig(over), dir); assert.unreachable(`accepted ${JSON.stringify(over)}`); } catch (e) {
      assert.instance(e, AdapterError);
      assert.match((e as Error).message, re);
    }
    assert.is(be.bytesInUse(), before, 'nothing uploaded for a rejected adapter');
  }
  assert.throws(() => loadAdapter(be, config, join(dir, 'nope')), (e: Error) => e instanceof AdapterError && /adapter config not found/.test(e.message));
  rmSync(dir, { recursive: true });
});

const python = '/usr/bin/python3';
const torchProbe = existsSync(python) ? spawnSync(python, ['-c', 'import torch, numpy'], { encoding: 'utf8' }) : null;
const haveTorch = torchProbe !== null && torchProbe.status === 0;
if (!haveTorch) console.log('(adapter: no /usr/bin/python3 with torch: the PEFT reference check is skipped)');
(haveTorch ? test : test.skip)('an adapter written here means the same to an independent PEFT-semantics reference (f64 torch): logits rel 1e-5', async () => {
  const golden = new URL('../fixtures/golden/', import.meta.url).pathname;
  const { config: gc, weights } = loadModel(golden);
  const dir = tmp();
  const model = buildModel(be, gc, weights);
  model.lora = Lora.create(be, gc, { r: 4, alpha: 6, dropout: 0, targets: ['q_proj', 'k_proj', 'o_proj', 'up_proj', 'down_proj'], seed: 2 });
  // make B non-zero so the adapter matters: write random values, as training would
  let s = 50;
  for (const m of model.lora.modules) be.write(m.B.buf, Float32Array.from({ length: m.B.size }, () => Math.sin(s++) * 0.3));
  await saveAdapter(dir, model.lora, gc);
  const batchPath = join(golden, 'batch.json');
  const bj = JSON.parse(readFileSync(batchPath, 'utf8'));
  const tape = model.forward({ B: bj.B, T: bj.T, ids: Int32Array.from(bj.ids), labels: Int32Array.from(bj.labels), lengths: Int32Array.from(bj.lengths) }, { training: false });
  const logits = await model.logits(tape).toFloat32();
  model.disposeTape(tape);
  writeFileSync(join(dir, 'logits.f32'), new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
  const script = new URL('./peft_check.py', import.meta.url).pathname;
  const r = spawnSync(python, [script, golden, dir, batchPath, join(dir, 'logits.f32')], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const [err, modules] = r.stdout.trim().split(' ').map(Number);
  assert.is(modules, 10, 'modules the reference found (2 layers x 5 targets)');
  assert.ok(err < 1e-5, `logits rel err vs the f64 reference ${err} (1e-5)`);
  model.lora.dispose(); model.dispose();
  rmSync(dir, { recursive: true });
});

test.run();
