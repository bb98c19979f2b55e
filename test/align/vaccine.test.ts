// Vaccine, SFT and random-Vaccine steps: the step against one assembled by hand from the engine's
// primitives (Llama and OPT), the perturbation's norm, a first-order check of its direction, the
// golden fixtures (f64 torch reference: Llama, Qwen2-style, OPT), and no leaked device memory.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadAdapter } from '../../engine/adapter.ts';
import { loraTargetNames } from '../../engine/lora.ts';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import type { Batch } from '../../engine/model/causal_lm.ts';
import { buildModel } from '../../engine/model/registry.ts';
import { loadModel } from '../../engine/model/load.ts';
import { Tensor } from '../../engine/tensor.ts';
import { passSeed, randomVaccineStep, sftStep, VACCINE_EPS, vaccineStep } from '../../engine/vaccine.ts';
import { bytesHeld, relErr, wasmBackend, webgpuProviders } from '../helpers.ts';
import { FIXTURES } from '../model/golden_fixture.ts';
import { randomBatch, randomLora, readGrads, tinyConfig, tinyModel, tinyOPTModel } from './helpers_align.ts';

const be = await wasmBackend();
const config = tinyConfig();
const batch = randomBatch(config, 3, 9, [9, 6, 4], 2);

// The same step on each family: Llama, and OPT (with project_in/out).
const FAMILY_MODELS = [['llama', () => tinyModel(be)], ['opt', () => tinyOPTModel(be)]] as const;

for (const [family, make] of FAMILY_MODELS) test(`${family}: a Vaccine step equals the step assembled by hand from forward/backward, sumSquares, scale (rel 1e-6)`, async () => {
  for (const dropout of [0, 0.2]) {
    const model = make();
    const config = model.config;
    model.lora = randomLora(be, config, 4, 8, dropout);
    const rho = 2, seed = 1234;
    model.lora.zeroGrad();
    const res = await vaccineStep(model, batch, { rho, dropoutSeed: seed });
    const got = await readGrads(model.lora);

    // by hand, computing the rows the step computes (rows 'loss')
    model.lora.zeroGrad();
    const t1 = model.forward(batch, { rows: 'loss', training: true, dropoutSeed: passSeed(seed, 1) });
    const loss1 = await model.loss(t1);
    const g = model.backward(t1, { loraGrads: false, attnOutGrads: true }).attnOutGrads!;
    const rows = t1.rows.n;
    model.disposeTape(t1);
    const n = rows * config.dim;
    const s = Tensor.zeros(be, [1]);
    for (const gl of g) be.sumSquares(s.buf, gl.buf, n);
    const norm = Math.sqrt((await s.read())[0]);
    const e = g.map((gl) => { const t = Tensor.zeros(be, [rows, config.dim]); be.scale(t.buf, gl.buf, rho / (norm + VACCINE_EPS), n); return t; });
    const t2 = model.forward(batch, { rows: 'loss', training: true, dropoutSeed: passSeed(seed, 2), perturbations: e });
    const loss2 = await model.loss(t2);
    model.backward(t2, { loraGrads: true });
    model.disposeTape(t2);
    const want = await readGrads(model.lora);
    for (const t of [...g, ...e, s]) t.dispose();

    assert.is(res.loss, loss1, 'pass-1 loss: the same computation, bit for bit');
    assert.ok(Math.abs(res.perturbedLoss! - loss2) / loss2 < 1e-6, `perturbed loss ${res.perturbedLoss} vs ${loss2} (rel 1e-6)`);
    assert.ok(Math.abs(res.gradNorm! - norm) / norm < 1e-6, 'grad norm (rel 1e-6)');
    // the only difference: rho/(norm+eps) as one host scalar vs scaleByInverseNorm on the device
    const all = (xs: Float32Array[]) => Float32Array.from(xs.flatMap((x) => Array.from(x)));
    const err = relErr(all(got), all(want));
    assert.ok(err < 1e-6, `LoRA grads rel err ${err} (1e-6), dropout ${dropout}`);
    assert.ok(Math.max(...all(want).map(Math.abs)) > 0, 'grads are not all zero');
    model.lora.dispose(); model.dispose();
  }
});

test('the perturbation has norm rho (rel 1e-5) and points along g; its first-order effect is rho * ||g||', async () => {
  const model = tinyModel(be);
  model.lora = randomLora(be, config);
  for (const rho of [2, 0.5]) {
    let sq = 0;
    await vaccineStep(model, batch, {
      rho, dropoutSeed: 1, inspectPerturbations: async (e) => {
        assert.is(e.length, config.nLayers);
        for (const t of e) for (const x of await t.toFloat32()) sq += x * x;
      },
    });
    assert.ok(Math.abs(Math.sqrt(sq) - rho) / rho < 1e-5, `||e|| = ${Math.sqrt(sq)} vs rho ${rho} (rel 1e-5)`);
  }
  // L(x + e) - L(x) = rho * ||g|| + O(rho^2): with rho = 1e-3 the second-order term is ~1e-6 of it
  const r = await vaccineStep(model, batch, { rho: 1e-3, dropoutSeed: 1 });
  const rise = r.perturbedLoss! - r.loss, expected = 1e-3 * r.gradNorm!;
  // the rise is ~5e-4; f32 losses carry ~5e-7 absolute error each, about 2e-3 of it
  assert.ok(Math.abs(rise - expected) / expected < 1e-2, `loss rise ${rise} vs rho*||g|| ${expected} (rel 1e-2)`);
  model.lora!.dispose(); model.dispose();
});

test('SFT, Vaccine and random-Vaccine steps free every temporary (bytesInUse unchanged)', async () => {
  const model = tinyModel(be);
  model.lora = randomLora(be, config, 4, 8, 0.1);
  // one warm-up of each so lazily created state (if any) exists before measuring
  const steps = [
    () => sftStep(model, batch, { dropoutSeed: 5 }),
    () => vaccineStep(model, batch, { rho: 2, dropoutSeed: 5 }),
    () => randomVaccineStep(model, batch, { rho: 2, dropoutSeed: 5, noiseSeed: 9 }),
  ];
  for (const step of steps) {
    await step();
    const before = be.bytesInUse();
    await step();
    assert.is(be.bytesInUse(), before);
  }
  model.lora!.dispose(); model.dispose();
});

test('Vaccine: when pass 2 fails after pass 1\'s loss read failed too, the step rejects with pass 2\'s error and nothing is left unhandled', async () => {
  const model = tinyModel(be);
  model.lora = randomLora(be, config, 4, 8, 0);
  // pass 1's loss read fails (as a lost device's reads do); pass 2's forward throws
  let forwards = 0;
  const failing = new Proxy(model, {
    get(target, prop) {
      if (prop === 'loss') return () => Promise.reject(new Error('read failed'));
      if (prop === 'forward') return (...a: Parameters<typeof model.forward>) => {
        if (++forwards === 2) throw new Error('pass 2 failed');
        return target.forward(...a);
      };
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => { unhandled.push(e); };
  process.on('unhandledRejection', onUnhandled);
  try {
    await vaccineStep(model, batch, { rho: 2, dropoutSeed: 5 }); // the arena's buffers exist from here on
    const before = be.bytesInUse();
    let err: unknown = null;
    try { await vaccineStep(failing, batch, { rho: 2, dropoutSeed: 5 }); } catch (e) { err = e; }
    assert.match(String(err), /pass 2 failed/);
    await new Promise((r) => setTimeout(r, 20)); // let an unhandled rejection be reported
    assert.equal(unhandled, []);
    assert.is(be.bytesInUse(), before, 'the perturbations and the norm went back');
  } finally {
    process.off('unhandledRejection', onUnhandled);
    model.lora!.dispose(); model.dispose();
  }
});

test('random-Vaccine: one pass, loss is the perturbed loss; rho 0 gives the SFT gradients (rel 1e-6)', async () => {
  const model = tinyModel(be);
  model.lora = randomLora(be, config);
  model.lora.zeroGrad();
  const a = await randomVaccineStep(model, batch, { rho: 0, dropoutSeed: 5, noiseSeed: 9 });
  const ga = await readGrads(model.lora);
  model.lora.zeroGrad();
  const b = await sftStep(model, batch, { dropoutSeed: 5 });
  const gb = await readGrads(model.lora);
  assert.is(a.loss, a.perturbedLoss);
  assert.ok(Math.abs(a.loss - b.loss) < 1e-6 * b.loss);
  ga.forEach((x, i) => assert.ok(relErr(x, gb[i]) < 1e-6));
  // with noise of variance 4, the loss moves
  const c = await randomVaccineStep(model, batch, { rho: 4, dropoutSeed: 5, noiseSeed: 9 });
  assert.ok(Math.abs(c.loss - b.loss) > 1e-3);
  model.lora.dispose(); model.dispose();
});

for (const fixture of FIXTURES) test(`${fixture} fixture (f64 torch): loss, perturbation, perturbed loss and Vaccine LoRA grads (rel 1e-4)`, async () => {
  const dir = new URL(`../fixtures/${fixture}/`, import.meta.url).pathname;
  const { config: gc, weights } = loadModel(dir);
  const expected = readSafetensors(dir + 'expected.safetensors').tensors;
  const bj = JSON.parse(readFileSync(dir + 'batch.json', 'utf8'));
  const gb: Batch = { B: bj.B, T: bj.T, ids: Int32Array.from(bj.ids), labels: Int32Array.from(bj.labels), lengths: Int32Array.from(bj.lengths) };
  const model = buildModel(be, gc, weights);
  model.lora = loadAdapter(be, gc, dir + 'adapter', { dropout: 0 });
  model.lora.zeroGrad();
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  const pert: Float32Array[] = [];
  const res = await vaccineStep(model, gb, { rho: 2, dropoutSeed: 0, inspectPerturbations: async (e) => { for (const t of e) pert.push(await t.toFloat32()); } });
  assert.ok(rel(res.loss, expected.get('loss')!.data[0]) < 1e-5, `loss ${res.loss} (rel 1e-5)`);
  assert.ok(rel(res.perturbedLoss!, expected.get('vaccine.perturbed_loss')!.data[0]) < 1e-4, `perturbed loss ${res.perturbedLoss} (rel 1e-4)`);
  pert.forEach((p, l) => {
    const err = relErr(p, expected.get(`vaccine.perturbation.${l}`)!.data);
    assert.ok(err < 1e-4, `perturbation ${l} rel err ${err} (1e-4)`);
  });
  let worst = 0;
  for (const m of model.lora.modules) {
    for (const [which, t] of [['A', m.dA], ['B', m.dB]] as const) {
      const ref = expected.get(`vaccine.grad.${m.peftName}.lora_${which}.weight`);
      assert.ok(ref, `fixture has vaccine.grad.${m.peftName}.lora_${which}.weight`);
      worst = Math.max(worst, relErr(await t.toFloat32(), ref!.data));
    }
  }
  assert.ok(worst < 1e-4, `worst Vaccine LoRA grad rel err ${worst} (1e-4)`);
  assert.is(model.lora.modules.length, loraTargetNames(gc).length * gc.nLayers);
  model.lora.dispose(); model.dispose();
});

// Registered only where an adapter exists; under CI a missing adapter makes webgpuProviders() throw.
for (const { provider, backend: gpu } of await webgpuProviders()) for (const family of ['llama', 'opt']) test(`${family}: WebGPU (${provider}) and WASM agree on a Vaccine step (losses, grad norm, LoRA grads: rel 1e-5)`, async () => {
  const results = [];
  for (const b of [be, gpu]) {
    const model = family === 'opt' ? tinyOPTModel(b) : tinyModel(b);
    const config = model.config;
    model.lora = randomLora(b, config, 4, 8, 0.1);
    model.lora.zeroGrad();
    const before = bytesHeld(b);
    const r = await vaccineStep(model, batch, { rho: 2, dropoutSeed: 77 });
    const grads = await readGrads(model.lora);
    assert.is(bytesHeld(b), before, `${b.name}: no leaked buffers`);
    results.push({ r, grads });
    model.lora.dispose(); model.dispose();
  }
  const [w, g] = results;
  assert.ok(Math.abs(g.r.loss - w.r.loss) / w.r.loss < 1e-5, 'loss');
  assert.ok(Math.abs(g.r.perturbedLoss! - w.r.perturbedLoss!) / w.r.perturbedLoss! < 1e-5, 'perturbed loss');
  assert.ok(Math.abs(g.r.gradNorm! - w.r.gradNorm!) / w.r.gradNorm! < 1e-5, 'grad norm');
  const all = (xs: Float32Array[]) => Float32Array.from(xs.flatMap((x) => Array.from(x)));
  const err = relErr(all(g.grads), all(w.grads));
  assert.ok(err < 1e-5, `LoRA grads WebGPU vs WASM rel err ${err} (1e-5)`);
});

test.run();
