// Embedding (WASM backend, 2 threads): the lookup against the f64 reference, and the
// scatter-add backward against central finite differences of loss = dot(out, R).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { embedding, embeddingBackward } from '../../engine/ops/embedding.ts';
import { wasmBackend, rand, randInt, relErr, dot } from '../helpers.ts';
import { embeddingRef } from '../reference/embedding.ts';
import { finiteDiffAt, spreadIndices, pick } from '../reference/sampled_grad.ts';

const backend = await wasmBackend();

async function check(name: string, N: number, V: number, D: number, seed: number, sampled: number): Promise<void> {
  const table = rand(V * D, seed), R = rand(N * D, seed + 1), dt0 = rand(V * D, seed + 2);
  const ids = randInt(N, seed + 3, V);
  ids[1] = ids[0]; // a repeated id: its gradient rows must add up
  const tT = Tensor.from(backend, [V, D], table), idT = Tensor.from(backend, [N], ids), out = Tensor.zeros(backend, [N, D]);
  embedding(out, tT, idT);
  const o = await out.toFloat32(), ref = embeddingRef(table, ids, D);
  assert.ok(relErr(o, ref) === 0, `${name}: a lookup is an exact copy (rel err ${relErr(o, ref)})`);

  const dOut = Tensor.from(backend, [N, D], R), dT = Tensor.from(backend, [V, D], dt0);
  embeddingBackward(dT, dOut, idT);
  const g = Float64Array.from(await dT.toFloat32(), (v, i) => v - dt0[i]); // dTable is added into
  const t64 = Float64Array.from(table);
  // sampled entries plus the whole row of the repeated id
  const idx = [...new Set([...spreadIndices(V * D, sampled), ...Array.from({ length: D }, (_, c) => ids[0] * D + c)])];
  const fd = finiteDiffAt((t) => dot(embeddingRef(t, ids, D), R), t64, idx);
  // tol 1e-5: each entry is dt0 + sum of a few R values, rounded in f32 and then dt0 subtracted.
  assert.ok(relErr(pick(g, idx), fd) < 1e-5, `${name}: dTable rel err ${relErr(pick(g, idx), fd)} (tol 1e-5)`);
  for (const t of [tT, idT, out, dOut, dT]) t.dispose();
}

test('small table, D with a scalar tail', () => check('small', 7, 5, 6, 1, 30));
test('multi-threaded: N = 100, D = 333', () => check('big', 100, 50, 333, 2, 200));

test('backward skips ids outside [0, V)', async () => {
  const V = 3, D = 5;
  const ids = Tensor.from(backend, [3], Int32Array.from([-1, 3, 1]));
  const dOut = Tensor.from(backend, [3, D], rand(3 * D, 7));
  // guard buffers allocated around dTable (likely its neighbours) catch writes out of bounds
  const before = Tensor.zeros(backend, [2 * D]);
  const dT = Tensor.zeros(backend, [V, D]);
  const after = Tensor.zeros(backend, [2 * D]);
  embeddingBackward(dT, dOut, ids);
  const g = await dT.toFloat32(), d = await dOut.toFloat32();
  assert.ok(g.subarray(0, D).every((v) => v === 0) && g.subarray(2 * D).every((v) => v === 0), 'only row 1 touched');
  assert.equal([...g.subarray(D, 2 * D)], [...d.subarray(2 * D, 3 * D)], 'row 1 = dOut row 2');
  for (const guard of [before, after]) assert.ok((await guard.toFloat32()).every((v) => v === 0), 'neighbouring buffers untouched');
  for (const t of [ids, dOut, before, after, dT]) t.dispose();
});
test.run();
