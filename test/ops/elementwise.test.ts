// copy, fill, axpy, scale, scaleByInverseNorm (WASM backend, 2 threads) against JS.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { copy, fill, axpy, scale, scaleByInverseNorm } from '../../engine/ops/elementwise.ts';
import { sumSquares } from '../../engine/ops/sum_squares.ts';
import { wasmBackend, rand, relErr } from '../helpers.ts';

const backend = await wasmBackend();
const SIZES = [1, 13, 70001]; // scalar only, vector + tail, multi-threaded

test('copy: an exact copy, across shapes of the same size (views included), f32 and i32', async () => {
  for (const n of SIZES) {
    const src = Tensor.from(backend, [n], rand(n, 5)), dst = Tensor.zeros(backend, [1, n]);
    copy(dst, src);
    assert.equal(Array.from(await dst.toFloat32()), Array.from(await src.toFloat32()), `n=${n}`);
    for (const t of [src, dst]) t.dispose();
  }
  const ids = Tensor.from(backend, [2, 3], Int32Array.of(1, 2, 3, 4, 5, 6)), out = Tensor.zeros(backend, [6], 'i32');
  copy(out.view([3, 2]), ids);
  assert.equal(Array.from(await out.read()), [1, 2, 3, 4, 5, 6]);
  assert.throws(() => copy(Tensor.zeros(backend, [5]), ids), /dtypes differ/);
  assert.throws(() => copy(out.view([2, 3]), Tensor.zeros(backend, [7], 'i32')), /sizes differ/);
  for (const t of [ids, out]) t.dispose();
});

test('fill', async () => {
  for (const n of SIZES) {
    const t = Tensor.from(backend, [n], rand(n, 1));
    fill(t, -1.25);
    assert.ok((await t.toFloat32()).every((v) => v === -1.25), `n=${n}: every element is -1.25`);
    t.dispose();
  }
});

test('axpy and scale (in place and out of place)', async () => {
  for (const n of SIZES) {
    const x = rand(n, 2), y = rand(n, 3);
    const xt = Tensor.from(backend, [n], x), yt = Tensor.from(backend, [n], y), out = Tensor.zeros(backend, [n]);
    axpy(yt, xt, 0.3);
    // One f32 multiply and one add per element: within an f32 ulp or two of the f64 result.
    assert.ok(relErr(await yt.toFloat32(), Array.from(y, (v, i) => v + 0.3 * x[i])) < 1e-6, `axpy n=${n} (tol 1e-6)`);
    scale(out, xt, -2.5);
    assert.ok(relErr(await out.toFloat32(), Array.from(x, (v) => -2.5 * v)) < 1e-6, `scale n=${n} (tol 1e-6)`);
    scale(xt, xt, 0.5);
    assert.ok(relErr(await xt.toFloat32(), Array.from(x, (v) => 0.5 * v)) === 0, `scale in place n=${n}: exact (power of two)`);
    for (const t of [xt, yt, out]) t.dispose();
  }
});

test('scaleByInverseNorm normalises by a device-held sum of squares', async () => {
  for (const n of SIZES) {
    const x = rand(n, 4, 3), rho = 0.05, eps = 1e-12;
    const xt = Tensor.from(backend, [n], x), s = Tensor.zeros(backend, [1]), out = Tensor.zeros(backend, [n]);
    sumSquares(s, xt);
    scaleByInverseNorm(out, xt, s, rho, eps);
    let ss = 0;
    for (const v of x) ss += v * v;
    const norm = Math.sqrt(ss);
    const got = await out.toFloat32();
    // f32 sum, sqrt, divide and multiply: a few f32 ulps.
    assert.ok(relErr(got, Array.from(x, (v) => (v * rho) / (norm + eps))) < 1e-6, `n=${n} (tol 1e-6)`);
    let outNorm = 0;
    for (const v of got) outNorm += v * v;
    assert.ok(Math.abs(Math.sqrt(outNorm) - rho) < 1e-6 * rho, `n=${n}: the result has norm rho`);
    for (const t of [xt, s, out]) t.dispose();
  }
});

test('size mismatches are rejected', () => {
  const a = Tensor.zeros(backend, [3]), b = Tensor.zeros(backend, [4]);
  assert.throws(() => axpy(a, b, 1), /sizes differ/);
  assert.throws(() => scale(a, b, 1), /sizes differ/);
  assert.throws(() => scaleByInverseNorm(a, a, b, 1, 0), /sumSq must hold 1 value/);
  a.dispose(); b.dispose();
});

test.run();
