// LayerNorm with weight and bias (WASM backend, 2 threads) against the f64 reference, and its
// backward (dX) against central finite differences of loss = dot(out, R).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { layernorm, layernormBackward } from '../../engine/ops/layernorm.ts';
import { wasmBackend, rand, relErr, dot, finiteDiff } from '../helpers.ts';
import { layernormRef } from '../reference/layernorm.ts';
import { finiteDiffAt, spreadIndices, pick } from '../reference/sampled_grad.ts';

const backend = await wasmBackend();
const eps = 1e-5;

async function check(name: string, rows: number, D: number, seed: number, offset: number, sampled?: number): Promise<void> {
  // an offset on x: the mean is far from 0, so a one-pass variance would lose digits
  const x = Float32Array.from(rand(rows * D, seed, 2), (v) => v + offset);
  const w = rand(D, seed + 1, 1.5), b = rand(D, seed + 2, 0.5), R = rand(rows * D, seed + 3);
  const xT = Tensor.from(backend, [rows, D], x), wT = Tensor.from(backend, [D], w), bT = Tensor.from(backend, [D], b);
  const out = Tensor.zeros(backend, [rows, D]), mean = Tensor.zeros(backend, [rows]), rstd = Tensor.zeros(backend, [rows]);
  const dy = Tensor.from(backend, [rows, D], R), dx = Tensor.zeros(backend, [rows, D]);
  backend.fill(out.buf, 7, out.size);
  backend.fill(dx.buf, 7, dx.size); // both are written, not accumulated

  layernorm(out, mean, rstd, xT, wT, bT, eps);
  const ref = layernormRef(x, w, b, rows, D, eps);
  const o = await out.toFloat32(), m = await mean.toFloat32(), r = await rstd.toFloat32();
  assert.ok(relErr(o, ref.out) < 1e-5, `${name}: out rel err ${relErr(o, ref.out)} (tol 1e-5)`);
  assert.ok(relErr(m, ref.mean) < 1e-5, `${name}: mean rel err ${relErr(m, ref.mean)} (tol 1e-5)`);
  assert.ok(relErr(r, ref.rstd) < 1e-5, `${name}: rstd rel err ${relErr(r, ref.rstd)} (tol 1e-5)`);

  layernormBackward(dx, dy, xT, wT, mean, rstd);
  const gx = await dx.toFloat32();
  const w64 = Float64Array.from(w), b64 = Float64Array.from(b), x64 = Float64Array.from(x);
  const fx = (xx: Float64Array) => dot(layernormRef(xx, w64, b64, rows, D, eps).out, R);
  if (sampled) {
    const idx = spreadIndices(x.length, sampled);
    const fd = finiteDiffAt(fx, x64, idx);
    assert.ok(relErr(pick(gx, idx), fd) < 1e-4, `${name}: dx rel err ${relErr(pick(gx, idx), fd)} (tol 1e-4)`);
  } else {
    const fd = finiteDiff(fx, x64);
    assert.ok(relErr(gx, fd) < 1e-4, `${name}: dx rel err ${relErr(gx, fd)} (tol 1e-4)`);
  }
  for (const t of [xT, wT, bT, out, mean, rstd, dy, dx]) t.dispose();
}

test('small rows, D a multiple of 8', () => check('small', 3, 16, 1, 0));
test('D with a scalar tail (D = 13), mean far from 0', () => check('tail', 5, 13, 2, 3));
test('D below one vector (D = 3)', () => check('narrow', 4, 3, 4, -1));
test('multi-threaded: 70 rows of 523, odd row count per thread', () => check('big', 70, 523, 3, 0.5, 60));

test('shapes are checked', () => {
  const x = Tensor.zeros(backend, [2, 6]), w = Tensor.zeros(backend, [6]), out = Tensor.zeros(backend, [2, 6]);
  const m = Tensor.zeros(backend, [2]), r = Tensor.zeros(backend, [2]);
  assert.throws(() => layernorm(out, m, r, x, w, Tensor.zeros(backend, [5]), eps), /layernorm b: expected shape \[6\]/);
  assert.throws(() => layernorm(out, Tensor.zeros(backend, [3]), r, x, w, w, eps), /mean must hold 2 values/);
  assert.throws(() => layernormBackward(Tensor.zeros(backend, [2, 5]), out, x, w, m, r), /dx: expected shape \[2, 6\]/);
  for (const t of [x, w, out, m, r]) t.dispose();
});

test.run();
