// LoRA (WASM backend, 2 threads): y = x W^T + scale * B A (x ∘ mask) through linear + loraForward,
// against an f64 reference; dX, dA, dB (linearBackward + loraBackward) against central finite
// differences of loss = dot(y, R), with and without a dropout mask.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { linear, linearBackward } from '../../engine/ops/matmul.ts';
import { loraForward, loraBackward } from '../../engine/ops/lora.ts';
import { dropoutMask } from '../../engine/ops/dropout.ts';
import { wasmBackend, rand, relErr, dot, finiteDiff } from '../helpers.ts';
import { loraLinearRef } from '../reference/lora.ts';

const backend = await wasmBackend();

/** Central differences at a subset of indices (full finiteDiff is quadratic in the input size). */
function finiteDiffAt(f: (x: Float64Array) => number, x: Float64Array, idx: number[], h = 1e-6): Float64Array {
  return Float64Array.from(idx, (i) => {
    const xi = x[i], step = h * Math.max(1, Math.abs(xi));
    x[i] = xi + step; const fp = f(x);
    x[i] = xi - step; const fm = f(x);
    x[i] = xi;
    return (fp - fm) / (2 * step);
  });
}

async function check(name: string, T: number, inF: number, outF: number, r: number, p: number, seed: number, samples = 0): Promise<void> {
  const scale = 16 / r;
  const x = rand(T * inF, seed), w = rand(outF * inF, seed + 1, 0.5), a = rand(r * inF, seed + 2, 0.5);
  const b = rand(outF * r, seed + 3, 0.5), R = rand(T * outF, seed + 4);
  const dA0 = rand(r * inF, seed + 5), dB0 = rand(outF * r, seed + 6);
  const xT = Tensor.from(backend, [T, inF], x), wT = Tensor.from(backend, [outF, inF], w);
  const aT = Tensor.from(backend, [r, inF], a), bT = Tensor.from(backend, [outF, r], b);
  const maskT = p > 0 ? Tensor.zeros(backend, [T, inF]) : null;
  if (maskT) dropoutMask(maskT, p, seed);
  const mask = maskT ? await maskT.toFloat32() : null;
  if (mask) assert.ok(mask.some((v) => v === 0) && mask.some((v) => v !== 0), `${name}: the mask drops some and keeps some`);

  const y = Tensor.zeros(backend, [T, outF]), u = Tensor.from(backend, [T, r], new Float32Array(T * r).fill(NaN));
  linear(y, xT, wT);
  loraForward(y, u, xT, aT, bT, maskT, scale);
  const ref = loraLinearRef(x, w, a, b, mask, T, inF, outF, r, scale);
  const got = await y.toFloat32();
  // f32 sums over in <= ~100 terms: relative 1e-5 of the output scale.
  assert.ok(relErr(got, ref) < 1e-5, `${name}: y rel err ${relErr(got, ref)} (tol 1e-5)`);

  const dy = Tensor.from(backend, [T, outF], R), dx = Tensor.zeros(backend, [T, inF]);
  const du = Tensor.from(backend, [T, r], new Float32Array(T * r).fill(NaN)); // written, so garbage is fine
  const dA = Tensor.from(backend, [r, inF], dA0), dB = Tensor.from(backend, [outF, r], dB0);
  linearBackward(dx, null, dy, xT, wT);
  loraBackward(dx, dA, dB, du, dy, xT, aT, bT, u, maskT, scale);

  const x64 = Float64Array.from(x), a64 = Float64Array.from(a), b64 = Float64Array.from(b);
  const loss = (xx: Float64Array, aa: Float64Array, bb: Float64Array) => dot(loraLinearRef(xx, w, aa, bb, mask, T, inF, outF, r, scale), R);
  const gx = await dx.toFloat32();
  const gA = Float64Array.from(await dA.toFloat32(), (v, i) => v - dA0[i]); // dA and dB are added into
  const gB = Float64Array.from(await dB.toFloat32(), (v, i) => v - dB0[i]);
  const pairs: [string, ArrayLike<number>, Float64Array, (v: Float64Array) => number][] = [
    ['dx', gx, x64, (v) => loss(v, a64, b64)],
    ['dA', gA, a64, (v) => loss(x64, v, b64)],
    ['dB', gB, b64, (v) => loss(x64, a64, v)],
  ];
  for (const [what, g, at, f] of pairs) {
    if (samples && at.length > samples) {
      const idx = Array.from({ length: samples }, (_, k) => Math.floor((k * at.length) / samples));
      const fd = finiteDiffAt(f, at, idx);
      const gi = idx.map((i) => g[i]);
      assert.ok(relErr(gi, fd) < 1e-4, `${name}: ${what} rel err ${relErr(gi, fd)} (tol 1e-4, ${samples} sampled)`);
    } else {
      const fd = finiteDiff(f, at);
      assert.ok(relErr(g, fd) < 1e-4, `${name}: ${what} rel err ${relErr(g, fd)} (tol 1e-4)`);
    }
  }
  for (const t of [xT, wT, aT, bT, y, u, dy, dx, du, dA, dB]) t.dispose();
  maskT?.dispose();
}

test('no dropout, r = 4, ragged in (13)', () => check('nomask', 6, 13, 9, 4, 0, 1));
test('dropout p = 0.25, r = 5 (a group of 4 and a tail)', () => check('mask', 7, 11, 6, 5, 0.25, 2));
test('dropout p = 0.1, multi-threaded (T=64, in=72, r=8)', () => check('big', 64, 72, 40, 8, 0.1, 3, 60));
// The WASM forward copies B transposed into a scratch slice of ~600 KiB per thread; out * r * 4
// bytes beyond that go in column blocks (here 2500 x 64: two blocks, the second partly filled).
test('a wide B in column blocks (out 2500, r 64, ragged)', () => check('wide', 5, 7, 2500, 64, 0.2, 4, 40));
test('without dA/dB only dX is produced', async () => {
  const T = 3, inF = 8, outF = 5, r = 2;
  const x = Tensor.from(backend, [T, inF], rand(T * inF, 9)), a = Tensor.from(backend, [r, inF], rand(r * inF, 10));
  const b = Tensor.from(backend, [outF, r], rand(outF * r, 11)), u = Tensor.zeros(backend, [T, r]);
  const y = Tensor.zeros(backend, [T, outF]), dy = Tensor.from(backend, [T, outF], rand(T * outF, 12));
  const dx = Tensor.zeros(backend, [T, inF]), du = Tensor.zeros(backend, [T, r]);
  loraForward(y, u, x, a, b, null, 2);
  loraBackward(dx, null, null, du, dy, x, a, b, u, null, 2);
  // The reference with W = 0 is the adapter alone.
  const w0 = new Float64Array(outF * inF);
  const av = await a.toFloat32(), bv = await b.toFloat32(), dyv = await dy.toFloat32();
  const f = (xx: Float64Array) => dot(loraLinearRef(xx, w0, av, bv, null, T, inF, outF, r, 2), dyv);
  const fd = finiteDiff(f, Float64Array.from(await x.toFloat32()));
  assert.ok(relErr(await dx.toFloat32(), fd) < 1e-4, 'dx alone (tol 1e-4)');
  assert.throws(() => loraForward(y, u, x, b, a, null, 2), /ranks differ|must end in/);
  for (const t of [x, a, b, u, y, dy, dx, du]) t.dispose();
});

test.run();
