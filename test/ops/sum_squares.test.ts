// sum of squares (WASM backend, 2 threads) against an f64 sum; out accumulates.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { sumSquares } from '../../engine/ops/sum_squares.ts';
import { wasmBackend, rand } from '../helpers.ts';

const backend = await wasmBackend();

function ref(...xs: Float32Array[]): number {
  let s = 0;
  for (const x of xs) for (const v of x) s += v * v;
  return s;
}

test('single tensors of size 1, 7, 1000, 300007 (multi-threaded)', async () => {
  for (const [n, seed] of [[1, 1], [7, 2], [1000, 3], [300007, 4]]) {
    const x = rand(n, seed, 3);
    const xt = Tensor.from(backend, [n], x), out = Tensor.zeros(backend, [1]);
    sumSquares(out, xt);
    const got = (await out.toFloat32())[0], want = ref(x);
    // f32 lanes over blocks of 256, then f64: within a few f32 ulps of the sum.
    assert.ok(Math.abs(got - want) / want < 1e-6, `n=${n}: ${got} vs ${want} (rel tol 1e-6)`);
    xt.dispose(); out.dispose();
  }
});

test('several tensors add into out', async () => {
  const a = rand(513, 5), b = rand(40000, 6, 0.1), c0 = 2.5;
  const at = Tensor.from(backend, [513], a), bt = Tensor.from(backend, [200, 200], b), out = Tensor.from(backend, [1], [c0]);
  sumSquares(out, at, bt);
  const got = (await out.toFloat32())[0], want = c0 + ref(a, b);
  assert.ok(Math.abs(got - want) / want < 1e-6, `${got} vs ${want} (rel tol 1e-6)`);
  const bad = Tensor.zeros(backend, [2]);
  assert.throws(() => sumSquares(bad, at), /out must hold 1 value/);
  for (const t of [at, bt, out, bad]) t.dispose();
});

test.run();
