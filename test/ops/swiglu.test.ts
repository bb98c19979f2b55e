// SwiGLU (WASM backend, 2 threads) against the f64 reference, and its backward against
// central finite differences of loss = dot(out, R).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { swiglu, swigluBackward } from '../../engine/ops/swiglu.ts';
import { wasmBackend, rand, relErr, dot, finiteDiff } from '../helpers.ts';
import { swigluRef } from '../reference/swiglu.ts';
import { finiteDiffAt, spreadIndices, pick } from '../reference/sampled_grad.ts';

const backend = await wasmBackend();

async function check(name: string, n: number, seed: number, sampled?: number): Promise<void> {
  const gate = rand(n, seed, 6), up = rand(n, seed + 1, 2), R = rand(n, seed + 2);
  // Far tails of the sigmoid, where exp(-x) overflows or vanishes in f32.
  gate[0] = -100; gate[1] = 100; gate[2] = 0;
  const gT = Tensor.from(backend, [n], gate), uT = Tensor.from(backend, [n], up), out = Tensor.zeros(backend, [n]);
  const dOut = Tensor.from(backend, [n], R), dg = Tensor.zeros(backend, [n]), du = Tensor.zeros(backend, [n]);
  backend.fill(dg.buf, 7, n); backend.fill(du.buf, 7, n); // written, not accumulated
  swiglu(out, gT, uT);
  const o = await out.toFloat32(), ref = swigluRef(gate, up);
  assert.ok(relErr(o, ref) < 1e-5, `${name}: out rel err ${relErr(o, ref)} (tol 1e-5)`);
  assert.ok(Number.isFinite(o[0]) && Number.isFinite(o[1]), `${name}: finite at gate = ±100`);
  swigluBackward(dg, du, dOut, gT, uT);
  const g64 = Float64Array.from(gate), u64 = Float64Array.from(up);
  const idx = sampled ? spreadIndices(n, sampled) : [...Array(n).keys()];
  const fdG = finiteDiffAt((g) => dot(swigluRef(g, u64), R), g64, idx);
  const fdU = finiteDiffAt((u) => dot(swigluRef(g64, u), R), u64, idx);
  const gg = pick(await dg.toFloat32(), idx), gu = pick(await du.toFloat32(), idx);
  assert.ok(relErr(gg, fdG) < 1e-4, `${name}: dGate rel err ${relErr(gg, fdG)} (tol 1e-4)`);
  assert.ok(relErr(gu, fdU) < 1e-4, `${name}: dUp rel err ${relErr(gu, fdU)} (tol 1e-4)`);
  for (const t of [gT, uT, out, dOut, dg, du]) t.dispose();
}

test('small, odd length', () => check('small', 37, 1));
test('multi-threaded length', () => check('big', 40001, 2, 80));
test('silu is accurate element by element over [-80, 80] (checks the vectorised exp)', async () => {
  const n = 16001;
  const gate = Float32Array.from({ length: n }, (_, i) => -80 + (160 * i) / (n - 1));
  const up = new Float32Array(n).fill(1);
  const gT = Tensor.from(backend, [n], gate), uT = Tensor.from(backend, [n], up), out = Tensor.zeros(backend, [n]);
  swiglu(out, gT, uT);
  const o = await out.toFloat32(), ref = swigluRef(gate, up);
  let worst = 0;
  for (let i = 0; i < n; i++) if (ref[i] !== 0) worst = Math.max(worst, Math.abs(o[i] - ref[i]) / Math.abs(ref[i]));
  // tol 5e-7 per element (about 4 f32 ulps): exp, a division and two products, each rounded
  assert.ok(worst < 5e-7, `worst elementwise rel err ${worst} (tol 5e-7)`);
  for (const t of [gT, uT, out]) t.dispose();
});
test.run();
