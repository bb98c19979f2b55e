// RMSNorm (WASM backend, 2 threads) against the f64 reference, and its backward (dX, dW)
// against central finite differences of loss = dot(out, R).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { rmsnorm, rmsnormBackward } from '../../engine/ops/rmsnorm.ts';
import { wasmBackend, rand, relErr, dot, finiteDiff } from '../helpers.ts';
import { rmsnormRef } from '../reference/rmsnorm.ts';
import { finiteDiffAt, spreadIndices, pick } from '../reference/sampled_grad.ts';

const backend = await wasmBackend();
const eps = 1e-5;

async function check(name: string, rows: number, D: number, seed: number, sampled?: number): Promise<void> {
  const x = rand(rows * D, seed, 2), w = rand(D, seed + 1, 1.5), R = rand(rows * D, seed + 2), dw0 = rand(D, seed + 3);
  const xT = Tensor.from(backend, [rows, D], x), wT = Tensor.from(backend, [D], w);
  const out = Tensor.zeros(backend, [rows, D]), rstd = Tensor.zeros(backend, [rows]);
  const dy = Tensor.from(backend, [rows, D], R), dx = Tensor.zeros(backend, [rows, D]);
  const dw = Tensor.from(backend, [D], dw0);
  backend.fill(dx.buf, 7, dx.size); // dX is written, not accumulated

  rmsnorm(out, rstd, xT, wT, eps);
  const ref = rmsnormRef(x, w, rows, D, eps);
  const o = await out.toFloat32(), r = await rstd.toFloat32();
  assert.ok(relErr(o, ref.out) < 1e-5, `${name}: out rel err ${relErr(o, ref.out)} (tol 1e-5)`);
  assert.ok(relErr(r, ref.rstd) < 1e-5, `${name}: rstd rel err ${relErr(r, ref.rstd)} (tol 1e-5)`);

  rmsnormBackward(dx, dw, dy, xT, wT, rstd);
  const gx = await dx.toFloat32();
  const gw = Float64Array.from(await dw.toFloat32(), (v, i) => v - dw0[i]); // dW is added into
  const x64 = Float64Array.from(x), w64 = Float64Array.from(w);
  const fx = (xx: Float64Array) => dot(rmsnormRef(xx, w64, rows, D, eps).out, R);
  const fw = (ww: Float64Array) => dot(rmsnormRef(x64, ww, rows, D, eps).out, R);
  if (sampled) {
    const idx = spreadIndices(x.length, sampled);
    const fd = finiteDiffAt(fx, x64, idx);
    assert.ok(relErr(pick(gx, idx), fd) < 1e-4, `${name}: dx rel err ${relErr(pick(gx, idx), fd)} (tol 1e-4)`);
  } else {
    const fd = finiteDiff(fx, x64);
    assert.ok(relErr(gx, fd) < 1e-4, `${name}: dx rel err ${relErr(gx, fd)} (tol 1e-4)`);
  }
  const fdw = finiteDiff(fw, w64);
  // dW is the difference of two f32 buffers (dw0 + grad - dw0): an extra f32 rounding of dw0's size.
  assert.ok(relErr(gw, fdw) < 1e-4, `${name}: dw rel err ${relErr(gw, fdw)} (tol 1e-4)`);
  for (const t of [xT, wT, out, rstd, dy, dx, dw]) t.dispose();
}

test('small rows, D a multiple of 8', () => check('small', 3, 16, 1));
test('D with a scalar tail (D = 13)', () => check('tail', 5, 13, 2));
test('multi-threaded: 70 rows of 523', () => check('big', 70, 523, 3, 60));

test('backward without dW writes dX only', async () => {
  const rows = 2, D = 6;
  const x = Tensor.from(backend, [rows, D], rand(rows * D, 9)), w = Tensor.from(backend, [D], rand(D, 10));
  const out = Tensor.zeros(backend, [rows, D]), rstd = Tensor.zeros(backend, [rows]);
  const dy = Tensor.from(backend, [rows, D], rand(rows * D, 11)), dx = Tensor.zeros(backend, [rows, D]);
  rmsnorm(out, rstd, x, w, eps);
  rmsnormBackward(dx, null, dy, x, w, rstd);
  assert.ok((await dx.toFloat32()).some((v) => v !== 0), 'dX written');
  assert.throws(() => rmsnorm(out, rstd, x, Tensor.zeros(backend, [D + 1]), eps), /expected shape/);
  for (const t of [x, w, out, rstd, dy, dx]) t.dispose();
});

test.run();
