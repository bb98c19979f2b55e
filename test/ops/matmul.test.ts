// matmul (WASM backend, 2 threads): forward against an f64 reference for every transposition,
// alpha/beta and ragged shapes, and the backward (matmulBackward: products with other flags)
// against central finite differences of loss = dot(C, R).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { matmul, matmulBackward, linear, linearBackward } from '../../engine/ops/matmul.ts';
import { wasmBackend, rand, relErr, dot, finiteDiff } from '../helpers.ts';
import { matmulRef } from '../reference/matmul.ts';

const backend = await wasmBackend();
const FLAGS: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];

function stored(M: number, N: number, K: number, transA: boolean, transB: boolean) {
  return { aShape: transA ? [K, M] : [M, K], bShape: transB ? [N, K] : [K, N] };
}

async function forward(M: number, N: number, K: number, alpha: number, beta: number, seed: number): Promise<void> {
  for (const [transA, transB] of FLAGS) {
    const name = `${M}x${N}x${K} transA=${transA} transB=${transB} alpha=${alpha} beta=${beta}`;
    const { aShape, bShape } = stored(M, N, K, transA, transB);
    const a = rand(M * K, seed, 1), b = rand(K * N, seed + 1, 1);
    const c0 = beta === 0 ? new Float32Array(M * N).fill(NaN) : rand(M * N, seed + 2, 1);
    const aT = Tensor.from(backend, aShape, a), bT = Tensor.from(backend, bShape, b), cT = Tensor.from(backend, [M, N], c0);
    matmul(cT, aT, bT, { transA, transB, alpha, beta });
    const got = await cT.toFloat32();
    const ref = matmulRef(a, b, c0, M, N, K, transA, transB, alpha, beta);
    // f32 accumulation over K <= ~300 terms of size <= 1: relative 1e-5 of the output scale.
    assert.ok(relErr(got, ref) < 1e-5, `${name}: rel err ${relErr(got, ref)} (tol 1e-5)`);
    for (const t of [aT, bT, cT]) t.dispose();
  }
}

test('1x1x1, every layout, beta 0 over NaN', () => forward(1, 1, 1, 1, 0, 1));
test('7x13x5, alpha 1.5, beta 0.5', () => forward(7, 13, 5, 1.5, 0.5, 2));
test('33x65x17, alpha -0.75, beta 1', () => forward(33, 65, 17, -0.75, 1, 3));
test('64x96x80 (multi-threaded), beta 0 over NaN', () => forward(64, 96, 80, 1, 0, 4));
test('6x300x270 (few rows: N split over threads; K and N blocked)', () => forward(6, 300, 270, 0.5, 2, 5));
test('45x9x290 (K blocked, ragged tiles)', () => forward(45, 9, 290, 1, 0, 6));
// The packed path (M >= 12 and N >= 128): ragged 6 x 8 tiles, K blocked
// past 256, N past one 512-column block, M past one 96-row block, every layout.
test('packed: 101x530x300 (alpha 0.5, beta 1) and 13x133x5 (beta 0 over NaN)', async () => {
  await forward(101, 530, 300, 0.5, 1, 10);
  await forward(13, 133, 5, 1, 0, 11);
});
// N a multiple of 512: rows of B at a power-of-two stride.
test('5x512x7 and 40x1024x20 (power-of-two N, N and M split)', async () => {
  await forward(5, 512, 7, 1, 0.25, 8);
  await forward(40, 1024, 20, 0.5, 0, 9);
});

test('K = 0 gives beta * C', async () => {
  const a = Tensor.zeros(backend, [3, 0]), b = Tensor.zeros(backend, [0, 5]);
  const c0 = rand(15, 7), c = Tensor.from(backend, [3, 5], c0);
  matmul(c, a, b, { beta: 0.5 });
  const got = await c.toFloat32();
  assert.ok(relErr(got, Array.from(c0, (v) => 0.5 * v)) === 0, 'K = 0: exactly beta * C');
  for (const t of [a, b, c]) t.dispose();
});

test('shape errors are reported', () => {
  const a = Tensor.zeros(backend, [3, 4]), b = Tensor.zeros(backend, [5, 6]), c = Tensor.zeros(backend, [3, 6]);
  assert.throws(() => matmul(c, a, b), /inner dimensions differ/);
  assert.throws(() => matmul(c, a, b, { transB: true }), /inner dimensions differ/);
  for (const t of [a, b, c]) t.dispose();
});

async function gradient(M: number, N: number, K: number, alpha: number, seed: number): Promise<void> {
  for (const [transA, transB] of FLAGS) {
    const name = `grad ${M}x${N}x${K} transA=${transA} transB=${transB}`;
    const { aShape, bShape } = stored(M, N, K, transA, transB);
    const a = rand(M * K, seed, 1), b = rand(K * N, seed + 1, 1), R = rand(M * N, seed + 2, 1);
    const aT = Tensor.from(backend, aShape, a), bT = Tensor.from(backend, bShape, b), dc = Tensor.from(backend, [M, N], R);
    const dA = Tensor.from(backend, aShape, new Float32Array(M * K).fill(NaN));
    const dB = Tensor.from(backend, bShape, new Float32Array(K * N).fill(NaN));
    matmulBackward(dA, dB, dc, aT, bT, { transA, transB, alpha });
    const a64 = Float64Array.from(a), b64 = Float64Array.from(b);
    const fdA = finiteDiff((x) => dot(matmulRef(x, b64, null, M, N, K, transA, transB, alpha), R), a64);
    const fdB = finiteDiff((x) => dot(matmulRef(a64, x, null, M, N, K, transA, transB, alpha), R), b64);
    const gA = await dA.toFloat32(), gB = await dB.toFloat32();
    assert.ok(relErr(gA, fdA) < 1e-4, `${name}: dA rel err ${relErr(gA, fdA)} (tol 1e-4)`);
    assert.ok(relErr(gB, fdB) < 1e-4, `${name}: dB rel err ${relErr(gB, fdB)} (tol 1e-4)`);
    // accumulate adds the same gradient on top.
    matmulBackward(dA, null, dc, aT, bT, { transA, transB, alpha, accumulate: true });
    const gA2 = await dA.toFloat32();
    assert.ok(relErr(gA2, Array.from(fdA, (v) => 2 * v)) < 1e-4, `${name}: accumulated dA (tol 1e-4)`);
    for (const t of [aT, bT, dc, dA, dB]) t.dispose();
  }
}

test('backward 7x13x5 vs finite differences', () => gradient(7, 13, 5, 1, 11));
test('backward 12x9x21, alpha 0.5, vs finite differences', () => gradient(12, 9, 21, 0.5, 12));

test('linear and linearBackward on [2, 5, in] activations', async () => {
  const T = 10, inF = 11, outF = 7;
  const x = rand(T * inF, 21), w = rand(outF * inF, 22), R = rand(T * outF, 23), dw0 = rand(outF * inF, 24);
  const xT = Tensor.from(backend, [2, 5, inF], x), wT = Tensor.from(backend, [outF, inF], w);
  const y = Tensor.zeros(backend, [2, 5, outF]), dy = Tensor.from(backend, [2, 5, outF], R);
  const dx = Tensor.zeros(backend, [2, 5, inF]), dw = Tensor.from(backend, [outF, inF], dw0);
  linear(y, xT, wT);
  const ref = matmulRef(x, w, null, T, outF, inF, false, true);
  assert.ok(relErr(await y.toFloat32(), ref) < 1e-5, 'linear forward (tol 1e-5)');
  linearBackward(dx, dw, dy, xT, wT);
  const x64 = Float64Array.from(x), w64 = Float64Array.from(w);
  const fdx = finiteDiff((v) => dot(matmulRef(v, w64, null, T, outF, inF, false, true), R), x64);
  const fdw = finiteDiff((v) => dot(matmulRef(x64, v, null, T, outF, inF, false, true), R), w64);
  assert.ok(relErr(await dx.toFloat32(), fdx) < 1e-4, 'linear dx vs finite differences (tol 1e-4)');
  const gw = Float64Array.from(await dw.toFloat32(), (v, i) => v - dw0[i]); // dW is added into
  assert.ok(relErr(gw, fdw) < 1e-4, `linear dw vs finite differences: ${relErr(gw, fdw)} (tol 1e-4)`);
  const wrong = Tensor.zeros(backend, [10, 6]);
  assert.throws(() => linear(wrong, xT, wT), /expected shape/);
  for (const t of [xT, wT, y, dy, dx, dw, wrong]) t.dispose();
});

test.run();
