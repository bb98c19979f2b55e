// Bias-add (WASM backend, 2 threads) against the f64 reference. It has no backward kernel: the
// gradient into y passes through unchanged, and biases are frozen.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { biasAdd } from '../../engine/ops/bias_add.ts';
import { wasmBackend, rand, relErr } from '../helpers.ts';
import { biasAddRef } from '../reference/bias_add.ts';

const backend = await wasmBackend();

async function checkBias(name: string, rows: number, D: number, seed: number): Promise<void> {
  const y0 = rand(rows * D, seed), b = rand(D, seed + 1, 2);
  const y = Tensor.from(backend, [rows, D], y0), bT = Tensor.from(backend, [D], b);
  biasAdd(y, bT);
  const got = await y.toFloat32(), ref = biasAddRef(y0, b, D);
  // one f32 addition per element: within half an ulp of the f64 sum
  assert.ok(relErr(got, ref) < 1e-7, `${name}: rel err ${relErr(got, ref)} (tol 1e-7)`);
  y.dispose(); bT.dispose();
}

test('bias-add: small rows, D with a tail', () => checkBias('small', 3, 13, 5));
test('bias-add: multi-threaded, 301 rows of 257', () => checkBias('big', 301, 257, 6));
test('bias-add: shapes are checked', () => {
  const y = Tensor.zeros(backend, [2, 3, 4]);
  assert.throws(() => biasAdd(y, Tensor.zeros(backend, [3])), /biasAdd b: expected shape \[4\]/);
  y.dispose();
});

test.run();
