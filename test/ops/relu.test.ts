// ReLU (WASM backend, 2 threads) against the f64 reference, and its backward against central
// finite differences of loss = dot(out, R).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { relu, reluBackward } from '../../engine/ops/relu.ts';
import { wasmBackend, rand, relErr, dot } from '../helpers.ts';
import { reluRef } from '../reference/relu.ts';
import { finiteDiffAt, spreadIndices, pick } from '../reference/sampled_grad.ts';

const backend = await wasmBackend();

async function check(name: string, n: number, seed: number, sampled?: number): Promise<void> {
  const x = rand(n, seed, 3), R = rand(n, seed + 1);
  // keep every input at least 1e-3 from the kink so a finite difference of step ~1e-6 stays on one side
  for (let i = 0; i < n; i++) if (Math.abs(x[i]) < 1e-3) x[i] = i % 2 ? 0.5 : -0.5;
  const xT = Tensor.from(backend, [n], x), out = Tensor.zeros(backend, [n]);
  const dy = Tensor.from(backend, [n], R), dx = Tensor.zeros(backend, [n]);
  backend.fill(out.buf, 7, n); backend.fill(dx.buf, 7, n); // written, not accumulated
  relu(out, xT);
  const o = await out.toFloat32(), ref = reluRef(x);
  assert.ok(relErr(o, ref) === 0, `${name}: out differs from max(x, 0) (rel err ${relErr(o, ref)})`);
  reluBackward(dx, dy, xT);
  const x64 = Float64Array.from(x);
  const idx = sampled ? spreadIndices(n, sampled) : [...Array(n).keys()];
  const fd = finiteDiffAt((xx) => dot(reluRef(xx), R), x64, idx);
  const g = pick(await dx.toFloat32(), idx);
  assert.ok(relErr(g, fd) < 1e-4, `${name}: dx rel err ${relErr(g, fd)} (tol 1e-4)`);
  for (const t of [xT, out, dy, dx]) t.dispose();
}

test('relu: small, odd length', () => check('small', 37, 1));
test('relu: multi-threaded length, chunks not multiples of 4', () => check('big', 40001, 2, 80));

test('relu: exactly 0 gives 0 and no gradient (as torch)', async () => {
  const x = Tensor.from(backend, [5], Float32Array.of(0, -0, 1, -1, 0)), out = Tensor.zeros(backend, [5]);
  const dy = Tensor.from(backend, [5], Float32Array.of(1, 1, 1, 1, 1)), dx = Tensor.zeros(backend, [5]);
  relu(out, x); reluBackward(dx, dy, x);
  assert.equal(Array.from(await out.toFloat32()), [0, 0, 1, 0, 0]);
  assert.equal(Array.from(await dx.toFloat32()), [0, 0, 1, 0, 0]);
  for (const t of [x, out, dy, dx]) t.dispose();
});

test.run();
