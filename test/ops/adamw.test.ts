// AdamW (WASM backend, 2 threads): 3 steps against an f64 implementation of the torch formula,
// and against torch.optim.AdamW itself (test/fixtures/adamw/golden.json, from make_golden.py).
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { adamwStep } from '../../engine/ops/adamw.ts';
import { wasmBackend, rand, relErr } from '../helpers.ts';
import { adamwRef } from '../reference/adamw.ts';

const backend = await wasmBackend();

test('3 steps vs the f64 formula (n = 70001: multi-threaded, with a scalar tail)', async () => {
  const n = 70001, o = { lr: 3e-3, beta1: 0.9, beta2: 0.99, eps: 1e-6, weightDecay: 0.05 };
  const p0 = rand(n, 1, 2);
  const p = Tensor.from(backend, [n], p0), m = Tensor.zeros(backend, [n]), v = Tensor.zeros(backend, [n]);
  const g = Tensor.zeros(backend, [n]);
  const pr = Float64Array.from(p0), mr = new Float64Array(n), vr = new Float64Array(n);
  for (let step = 1; step <= 3; step++) {
    const gv = rand(n, 10 + step, step === 2 ? 0.01 : 1);
    backend.write(g.buf, gv);
    adamwStep(p, g, m, v, { ...o, step });
    adamwRef(pr, gv, mr, vr, step, o);
  }
  const pg = await p.toFloat32();
  // The update (p - p0) is ~1e-2 while p is ~1: its error is f32 rounding of p, so 1e-4 relative.
  const upd = Float64Array.from(pg, (x, i) => x - p0[i]), updRef = Float64Array.from(pr, (x, i) => x - p0[i]);
  assert.ok(relErr(upd, updRef) < 1e-4, `update rel err ${relErr(upd, updRef)} (tol 1e-4)`);
  assert.ok(relErr(pg, pr) < 1e-6, `p rel err ${relErr(pg, pr)} (tol 1e-6)`);
  assert.ok(relErr(await m.toFloat32(), mr) < 1e-5, `m rel err (tol 1e-5)`);
  assert.ok(relErr(await v.toFloat32(), vr) < 1e-5, `v rel err (tol 1e-5)`);
  for (const t of [p, m, v, g]) t.dispose();
});

test('3 steps vs torch.optim.AdamW golden values', async () => {
  const gold = JSON.parse(readFileSync(new URL('../fixtures/adamw/golden.json', import.meta.url), 'utf8'));
  const n = gold.p0.length;
  const o = { lr: gold.lr, beta1: gold.beta1, beta2: gold.beta2, eps: gold.eps, weightDecay: gold.weight_decay };
  const p = Tensor.from(backend, [n], Float32Array.from(gold.p0)), m = Tensor.zeros(backend, [n]), v = Tensor.zeros(backend, [n]);
  const g = Tensor.zeros(backend, [n]);
  for (let s = 0; s < 3; s++) {
    backend.write(g.buf, Float32Array.from(gold.grads[s]));
    adamwStep(p, g, m, v, { ...o, step: s + 1 });
    const pg = await p.toFloat32();
    const upd = Float64Array.from(pg, (x, i) => x - gold.p0[i]);
    const updRef = Float64Array.from(gold.params[s], (x: number, i) => x - gold.p0[i]);
    // Both are f32 with the same operation order: the update agrees to f32 rounding of p (1e-4 of the update).
    assert.ok(relErr(upd, updRef) < 1e-4, `step ${s + 1}: update rel err ${relErr(upd, updRef)} (tol 1e-4)`);
    assert.ok(relErr(await m.toFloat32(), gold.exp_avg[s]) < 1e-6, `step ${s + 1}: exp_avg (tol 1e-6)`);
    assert.ok(relErr(await v.toFloat32(), gold.exp_avg_sq[s]) < 1e-6, `step ${s + 1}: exp_avg_sq (tol 1e-6)`);
  }
  for (const t of [p, m, v, g]) t.dispose();
});

test('shape mismatch and bad step are rejected', () => {
  const p = Tensor.zeros(backend, [4]), g = Tensor.zeros(backend, [5]);
  const o = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
  assert.throws(() => adamwStep(p, g, p, p, { ...o, step: 1 }), /expected shape/);
  assert.throws(() => adamwStep(p, p, p, p, { ...o, step: 0 }), /step must be/);
  p.dispose(); g.dispose();
});

test.run();
