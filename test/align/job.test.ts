// The alignment job through the library API: gradient accumulation and gradient clipping as HF
// does them, the constant schedule, --merge-adapter wiring, callbacks, and random-Vaccine's noise
// (rho is its variance).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadAdapter, saveAdapter } from '../../engine/adapter.ts';
import { BatchOrder, collate, encodeExample, parseRows } from '../../engine/data.ts';
import { demoAlignmentRows, randomLlamaWeights } from '../../engine/demo.ts';
import { writeSafetensors } from '../../engine/io/safetensors.ts';
import { align } from '../../engine/jobs/align.ts';
import { Lora, loraTargetNames } from '../../engine/lora.ts';
import { LlamaModel } from '../../engine/model/llama/model.ts';
import { ByteTokenizer } from '../../engine/tokenizer/bytes.ts';
import { randomVaccineStep, sftStep } from '../../engine/vaccine.ts';
import { relErr, wasmBackend } from '../helpers.ts';
import { randomBatch, randomLora, readGrads, tinyConfig } from './helpers_align.ts';

const be = await wasmBackend();
const tok = new ByteTokenizer();
const config = tinyConfig({ vocabSize: 258, bosId: 256, eosId: 257, maxSeqLen: 256 });
const weights = randomLlamaWeights(config, 21);
const rows = demoAlignmentRows(8, 5);
const common = {
  model: { config, weights }, tokenizer: tok, data: rows, backend: be, loraDropout: 0, seed: 43,
  scheduler: 'constant' as const, warmupRatio: 0, maxLength: 256,
};
const tmp = () => mkdtempSync(join(tmpdir(), 'align-job-'));

/** The micro-batches the job draws (same order, padding and encoding). */
function microBatches(batchSize: number, ks: number[]) {
  const parsed = parseRows(JSON.stringify(rows), '<rows>');
  const ex = parsed.map((r) => encodeExample(r, (t) => tok.encode(t, { bos: true }), tok.eosId, 256));
  const order = new BatchOrder(ex.length, batchSize, 43, true);
  return ks.map((k) => collate(Array.from(order.microBatch(k).indices, (i) => ex[i]), tok.eosId));
}

test('grad accumulation: one SGD step with accum 2 is p - lr * (g1 + g2) / 2 (rel 1e-6)', async () => {
  const out = tmp();
  const lr = 0.3;
  // no clipping: the hand computation below is the unclipped update
  await align({ ...common, out, method: 'sft', optimizer: 'sgd', lr, batchSize: 2, gradAccum: 2, maxSteps: 1, loraR: 4, loraAlpha: 8, maxGradNorm: 0 });
  const trained = loadAdapter(be, config, out);
  // by hand, from the same initial adapter (same seed) and the same two micro-batches
  const model = LlamaModel.fromHost(be, config, weights);
  model.lora = Lora.create(be, config, { r: 4, alpha: 8, dropout: 0, targets: loraTargetNames(config), seed: 43 });
  const [b1, b2] = microBatches(2, [0, 1]);
  model.lora.zeroGrad();
  await sftStep(model, b1, { dropoutSeed: 0 });
  const g1 = await readGrads(model.lora);
  model.lora.zeroGrad();
  await sftStep(model, b2, { dropoutSeed: 0 });
  const g2 = await readGrads(model.lora);
  let i = 0, worst = 0;
  for (const m of model.lora.modules) {
    const t = trained.get(m.layer, m.target)!;
    for (const [p, q] of [[m.A, t.A], [m.B, t.B]]) {
      const p0 = await p.toFloat32();
      const want = p0.map((x, j) => x - lr * (g1[i][j] + g2[i][j]) / 2);
      worst = Math.max(worst, relErr(await q.toFloat32(), want));
      i++;
    }
  }
  assert.ok(worst < 1e-6, `accumulated update rel err ${worst} (1e-6)`);
  trained.dispose(); model.lora.dispose(); model.dispose();
  rmSync(out, { recursive: true });
});

test('--max-grad-norm c: one SGD step is p - lr * min(1, c / (||g|| + 1e-6)) * g, ||g|| over every LoRA grad (rel 1e-5)', async () => {
  // by hand: the gradients of the initial adapter on the first micro-batch, their norm in f64
  const model = LlamaModel.fromHost(be, config, weights);
  model.lora = Lora.create(be, config, { r: 4, alpha: 8, dropout: 0, targets: loraTargetNames(config), seed: 43 });
  const [b] = microBatches(2, [0]);
  model.lora.zeroGrad();
  await sftStep(model, b, { dropoutSeed: 0 });
  const g = await readGrads(model.lora);
  const p0: Float32Array[] = [];
  for (const m of model.lora.modules) p0.push(await m.A.toFloat32(), await m.B.toFloat32());
  let sq = 0;
  for (const x of g) for (const v of x) sq += v * v;
  const norm = Math.sqrt(sq);
  const lr = 0.5;
  // a quarter of the norm clips (coef ~1/4); four times it does not (coef would be ~4 > 1)
  for (const maxGradNorm of [norm / 4, norm * 4]) {
    const out = tmp();
    const res = await align({ ...common, out, method: 'sft', optimizer: 'sgd', lr, batchSize: 2, maxSteps: 1, loraR: 4, loraAlpha: 8, maxGradNorm });
    const logged = res.metrics[0].lora_grad_norm;
    // f32 sum of squares on the device vs f64 here: rel 1e-5
    assert.ok(Math.abs(logged - norm) / norm < 1e-5, `lora_grad_norm ${logged} vs ${norm} (rel 1e-5)`);
    const coef = Math.min(1, maxGradNorm / (norm + 1e-6));
    const trained = loadAdapter(be, config, out);
    const got: number[] = [], want: number[] = [];
    let i = 0;
    for (const m of model.lora.modules) {
      const t = trained.get(m.layer, m.target)!;
      for (const q of [t.A, t.B]) {
        const p = await q.toFloat32();
        p.forEach((x, j) => { got.push(x - p0[i][j]); want.push(-lr * coef * g[i][j]); });
        i++;
      }
    }
    trained.dispose();
    rmSync(out, { recursive: true });
    // the update itself, so the tolerance is relative to it: rel 1e-5
    const err = relErr(Float32Array.from(got), want);
    assert.ok(err < 1e-5, `clipped update rel err ${err} (max norm ${maxGradNorm}, ||g|| ${norm})`);
  }
  model.lora.dispose(); model.dispose();
});

test('--scheduler constant ignores the warmup ratio: every step has the peak lr, warmup 0', async () => {
  const out = tmp();
  let warm = -1;
  const res = await align({ ...common, out, method: 'sft', batchSize: 2, maxSteps: 4, scheduler: 'constant', warmupRatio: 0.5 },
    { onStart: (i) => { warm = i.warmupSteps; } });
  assert.equal(res.metrics.map((m) => m.lr), [1e-3, 1e-3, 1e-3, 1e-3]);
  assert.is(warm, 0);
  rmSync(out, { recursive: true });
});

test('the host copy of the weights is not kept once uploaded (collected by a full GC during training)', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 258, hidden_size: 16, intermediate_size: 24,
    num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, max_position_embeddings: 256,
    rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 256, eos_token_id: 257,
  }));
  writeSafetensors(join(dir, 'model.safetensors'), weights);
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // A finalizer (not a WeakRef, which would keep its target alive through the current job) on the
  // weights the job loads from disk: if the job still held them at the GC in step 2, they would
  // only become garbage after align() returns, and no GC runs between that and the check below.
  let finalized = false;
  const registry = new FinalizationRegistry(() => { finalized = true; });
  const fromHost = LlamaModel.fromHost;
  let collectedAtStep = 0;
  LlamaModel.fromHost = (b, c, w, o) => { registry.register(w, 'weights'); return fromHost.call(LlamaModel, b, c, w, o); };
  try {
    await align({ ...common, model: dir, out: join(dir, 'out'), method: 'sft', batchSize: 2, maxSteps: 3 }, {
      onStep: (m) => { if (m.step === 2) { gc(); collectedAtStep = m.step; } },
    });
  } finally { LlamaModel.fromHost = fromHost; }
  for (let i = 0; i < 10 && !finalized; i++) await new Promise((r) => setTimeout(r, 10));
  assert.is(collectedAtStep, 2);
  assert.ok(finalized, 'the loaded HostWeights were still referenced during training');
  rmSync(dir, { recursive: true });
});

test('--merge-adapter: the first step\'s loss is the loss of the base model with that adapter applied (rel 1e-5)', async () => {
  const adapterDir = tmp(), out = tmp();
  const x = randomLora(be, config, 4, 8, 0, 3);
  await saveAdapter(adapterDir, x, config);
  x.dispose();
  const res = await align({ ...common, out, method: 'sft', batchSize: 2, maxSteps: 1, mergeAdapter: adapterDir });
  const model = LlamaModel.fromHost(be, config, weights);
  model.lora = loadAdapter(be, config, adapterDir, { dropout: 0 });
  const [b] = microBatches(2, [0]);
  const t = model.forward(b, { training: false });
  const want = await model.loss(t);
  model.disposeTape(t);
  const plainOut = tmp();
  const plain = await align({ ...common, out: plainOut, method: 'sft', batchSize: 2, maxSteps: 1 });
  rmSync(plainOut, { recursive: true });
  assert.ok(Math.abs(res.metrics[0].loss - want) / want < 1e-5, `merged ${res.metrics[0].loss} vs adapter applied ${want} (rel 1e-5)`);
  assert.ok(Math.abs(plain.metrics[0].loss - want) / want > 1e-3, 'the adapter changes the loss (so the check above means something)');
  model.lora.dispose(); model.dispose();
  rmSync(adapterDir, { recursive: true }); rmSync(out, { recursive: true });
});

test('callbacks: onStart once, onStep per optimizer step, onCheckpoint per --save-every', async () => {
  const out = tmp();
  const seen = { start: 0, steps: [] as number[], ckpt: [] as number[] };
  const res = await align({ ...common, out, batchSize: 2, maxSteps: 5, saveEvery: 2 }, {
    onStart: (i) => { seen.start++; assert.is(i.totalSteps, 5); assert.is(i.examples, 8); },
    onStep: (m, total) => { seen.steps.push(m.step); assert.is(total, 5); },
    onCheckpoint: (_d, step) => seen.ckpt.push(step),
  });
  assert.is(seen.start, 1);
  assert.equal(seen.steps, [1, 2, 3, 4, 5]);
  assert.equal(seen.ckpt, [2, 4]);
  assert.is(res.metrics.length, 5);
  rmSync(out, { recursive: true });
});

test('random-Vaccine noise has variance rho (6144 samples: rel 6e-2, over 3 standard errors) and mean 0', async () => {
  const c2 = tinyConfig({ dim: 64, nHeads: 4, headDim: 16 });
  const model = LlamaModel.fromHost(be, c2, randomLlamaWeights(c2, 1));
  model.lora = randomLora(be, c2);
  const batch = randomBatch(c2, 3, 16, [16, 16, 16], 2);
  for (const rho of [2, 0.25]) {
    let s = 0, s2 = 0, n = 0;
    await randomVaccineStep(model, batch, {
      rho, dropoutSeed: 1, noiseSeed: 7, inspectPerturbations: async (e) => {
        for (const t of e) for (const v of await t.toFloat32()) { s += v; s2 += v * v; n++; }
      },
    });
    const mean = s / n, variance = s2 / n - mean * mean;
    // 6144 values: the sample variance's relative std is sqrt(2/n) ~ 1.8e-2
    assert.ok(Math.abs(variance - rho) / rho < 6e-2, `variance ${variance} vs rho ${rho} (n ${n})`);
    assert.ok(Math.abs(mean) < 4 * Math.sqrt(rho / n), `mean ${mean}`);
  }
  model.lora!.dispose(); model.dispose();
});

test.run();
