// RoPE (WASM backend, 2 threads): both pairings against the f64 reference, inverse(forward) = id,
// the backward against finite differences, the equivalence of the two pairings under the
// Hugging Face row permutation, and the cos/sin tables against exact angles.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { gatherRopeTables, rope, ropeBackward, ropeTables } from '../../engine/ops/rope.ts';
import { wasmBackend, rand, relErr, dot } from '../helpers.ts';
import { ropeRef, ropeAngleRef } from '../reference/rope.ts';
import { finiteDiffAt, spreadIndices, pick } from '../reference/sampled_grad.ts';

const backend = await wasmBackend();

async function check(name: string, B: number, T: number, H: number, hd: number, pos0: number, interleaved: boolean, seed: number): Promise<void> {
  const maxPos = pos0 + T + 3;
  const tables = ropeTables(backend, maxPos, hd, 10000);
  const cos = await tables.cos.toFloat32(), sin = await tables.sin.toFloat32();
  const n = B * T * H * hd;
  const x = rand(n, seed, 2), R = rand(n, seed + 1);
  const xT = Tensor.from(backend, [B, T, H, hd], x);
  rope(xT, tables, { pos0, interleaved });
  const y = await xT.toFloat32(), ref = ropeRef(x, cos, sin, B * T, T, H, hd, pos0, interleaved, false);
  assert.ok(relErr(y, ref) < 1e-5, `${name}: forward rel err ${relErr(y, ref)} (tol 1e-5)`);

  rope(xT, tables, { pos0, interleaved, inverse: true });
  const back = await xT.toFloat32();
  // tol 1e-6: cos^2 + sin^2 = 1 only to f32 precision
  assert.ok(relErr(back, x) < 1e-6, `${name}: inverse(forward(x)) rel err ${relErr(back, x)} (tol 1e-6)`);

  const g = Tensor.from(backend, [B, T, H, hd], R);
  ropeBackward(g, tables, { pos0, interleaved });
  const idx = spreadIndices(n, 300);
  const fd = finiteDiffAt((xx) => dot(ropeRef(xx, cos, sin, B * T, T, H, hd, pos0, interleaved, false), R), Float64Array.from(x), idx);
  const got = pick(await g.toFloat32(), idx);
  assert.ok(relErr(got, fd) < 1e-4, `${name}: backward rel err ${relErr(got, fd)} vs finite differences (tol 1e-4)`);
  for (const t of [xT, g, tables.cos, tables.sin]) t.dispose();
}

for (const interleaved of [true, false]) {
  const kind = interleaved ? 'interleaved (llama2.c)' : 'rotate-half (HF)';
  test(`${kind}: small, pos0 = 0`, () => check(`${kind} small`, 1, 5, 2, 8, 0, interleaved, 1));
  test(`${kind}: B = 2, pos0 = 7, hd/2 odd (scalar tail)`, () => check(`${kind} tail`, 2, 3, 3, 10, 7, interleaved, 2));
  test(`${kind}: multi-threaded shape`, () => check(`${kind} big`, 2, 33, 4, 130, 5, interleaved, 3));
}

test('rotate-half on HF-permuted rows equals interleaved on llama2.c rows', async () => {
  // HF's conversion script permutes each head's q/k projection rows so that HF row j < hd/2 is
  // llama2.c row 2j and HF row j + hd/2 is llama2.c row 2j + 1. Projections then come out in
  // that order, and rotating them with rotate-half must give the permuted llama2.c result.
  const B = 2, T = 6, H = 3, hd = 12, half = hd / 2, pos0 = 2;
  const tables = ropeTables(backend, 16, hd, 10000);
  const l2c = rand(B * T * H * hd, 5);
  const hf = new Float32Array(l2c.length);
  for (let v = 0; v < B * T * H; v++) for (let j = 0; j < half; j++) {
    hf[v * hd + j] = l2c[v * hd + 2 * j];
    hf[v * hd + j + half] = l2c[v * hd + 2 * j + 1];
  }
  const a = Tensor.from(backend, [B, T, H, hd], l2c), b = Tensor.from(backend, [B, T, H, hd], hf);
  rope(a, tables, { pos0, interleaved: true });
  rope(b, tables, { pos0, interleaved: false });
  const ya = await a.toFloat32(), yb = await b.toFloat32();
  const permuted = new Float32Array(ya.length);
  for (let v = 0; v < B * T * H; v++) for (let j = 0; j < half; j++) {
    permuted[v * hd + j] = ya[v * hd + 2 * j];
    permuted[v * hd + j + half] = ya[v * hd + 2 * j + 1];
  }
  // Exact: both pairings do the same two f32 products and one add/sub per output.
  assert.equal([...yb], [...permuted]);
  for (const t of [a, b, tables.cos, tables.sin]) t.dispose();
});

test('cos/sin tables match exact angles to f32 rounding', async () => {
  const maxPos = 200, hd = 64, half = hd / 2, theta = 10000;
  const tables = ropeTables(backend, maxPos, hd, theta);
  const cos = await tables.cos.toFloat32(), sin = await tables.sin.toFloat32();
  let worst = 0;
  for (let p = 0; p < maxPos; p++) for (let j = 0; j < half; j++) {
    const a = ropeAngleRef(p, j, hd, theta);
    // the f32 angle carries ~3 roundings (inv_freq, its pow, the product): 4e-7 * angle, plus
    // the f32 rounding of the result itself.
    const tol = 4e-7 * a + 1e-7;
    const err = Math.max(Math.abs(cos[p * half + j] - Math.cos(a)), Math.abs(sin[p * half + j] - Math.sin(a)));
    worst = Math.max(worst, err / tol);
  }
  assert.ok(worst <= 1, `tables: worst error is ${worst} x the f32 tolerance`);
  assert.is(cos[0], 1); assert.is(sin[0], 0);
  tables.cos.dispose(); tables.sin.dispose();
});

test('rope rejects positions beyond the tables', () => {
  const tables = ropeTables(backend, 4, 8);
  const x = Tensor.zeros(backend, [1, 3, 1, 8]);
  assert.throws(() => rope(x, tables, { pos0: 2, interleaved: false }), /exceed/);
  for (const t of [x, tables.cos, tables.sin]) t.dispose();
});
test('gathered tables: row i rotated by positions[i] is bit for bit the rotation at that position', async () => {
  const H = 3, hd = 8, positions = [5, 0, 9, 5, 2];
  const tables = ropeTables(backend, 12, hd, 10000);
  const x = rand(positions.length * H * hd, 77, 2);
  const posT = Tensor.from(backend, [positions.length], Int32Array.from(positions));
  const rows = gatherRopeTables(tables, posT);
  const xT = Tensor.from(backend, [1, positions.length, H, hd], x);
  rope(xT, rows, { pos0: 0, interleaved: false });
  const got = await xT.toFloat32();
  for (let i = 0; i < positions.length; i++) {
    const one = Tensor.from(backend, [1, 1, H, hd], x.subarray(i * H * hd, (i + 1) * H * hd));
    rope(one, tables, { pos0: positions[i], interleaved: false });
    assert.equal(Array.from(got.subarray(i * H * hd, (i + 1) * H * hd)), Array.from(await one.toFloat32()), `row ${i}`);
    one.dispose();
  }
  for (const t of [tables.cos, tables.sin, posT, rows.cos, rows.sin, xT]) t.dispose();
});

test.run();
