// Cross-entropy (WASM backend, 2 threads) against the f64 reference, ignore_index rows, and the
// backward against central finite differences of loss = scale * sum(losses).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { crossEntropyLoss, crossEntropyBackward, IGNORE_INDEX } from '../../engine/ops/cross_entropy.ts';
import { wasmBackend, rand, randInt, relErr } from '../helpers.ts';
import { crossEntropyRef } from '../reference/cross_entropy.ts';
import { finiteDiffAt, spreadIndices, pick } from '../reference/sampled_grad.ts';

const backend = await wasmBackend();

async function check(name: string, N: number, V: number, seed: number, sampled?: number): Promise<void> {
  const logits = rand(N * V, seed, 8);
  logits[3] = 60; // a large logit: the max subtraction keeps exp finite
  const labels = randInt(N, seed + 1, V);
  labels[1] = IGNORE_INDEX;
  if (N > 4) { labels[3] = V; labels[4] = -1; } // out of range: ignored, never indexed
  const scale = 0.37;
  const lT = Tensor.from(backend, [N, V], logits), yT = Tensor.from(backend, [N], labels);
  const { loss, lse } = crossEntropyLoss(lT, yT);
  const got = await loss.toFloat32(), ref = crossEntropyRef(logits, labels, N, V);
  assert.ok(relErr(got, ref) < 1e-5, `${name}: loss rel err ${relErr(got, ref)} (tol 1e-5)`);
  assert.is(got[1], 0, `${name}: ignored row has loss 0`);

  // The backward's one scale (e.g. 1/number of labelled tokens) is the gradient of
  // loss = scale * sum_i loss_i: that is the scalar differenced here.
  const dl = Tensor.zeros(backend, [N, V]);
  backend.fill(dl.buf, 7, dl.size);
  crossEntropyBackward(dl, lT, lse, yT, scale);
  const g = await dl.toFloat32();
  const x64 = Float64Array.from(logits);
  const f = (x: Float64Array) => scale * crossEntropyRef(x, labels, N, V).reduce((a, b) => a + b, 0);
  const idx = sampled ? spreadIndices(N * V, sampled) : [...Array(N * V).keys()];
  const fd = finiteDiffAt(f, x64, idx);
  assert.ok(relErr(pick(g, idx), fd) < 1e-4, `${name}: dlogits rel err ${relErr(pick(g, idx), fd)} (tol 1e-4)`);
  for (const i of [1, ...(N > 4 ? [3, 4] : [])]) {
    assert.ok(g.subarray(i * V, (i + 1) * V).every((v) => v === 0), `${name}: ignored row ${i} has zero gradient`);
  }
  // in place: the gradient overwrites the logits, bit for bit the same values
  crossEntropyBackward(lT, lT, lse, yT, scale);
  const inPlace = await lT.toFloat32();
  assert.ok(inPlace.every((v, i) => Object.is(v, g[i])), `${name}: in-place gradient differs`);
  for (const t of [lT, yT, loss, lse, dl]) t.dispose();
}

test('small rows, V with a scalar tail', () => check('small', 6, 11, 1));
test('multi-threaded: N = 9, V = 4001', () => check('big', 9, 4001, 2, 60));
test('shape checks', () => {
  const l = Tensor.zeros(backend, [2, 3]), y = Tensor.from(backend, [3], Int32Array.from([0, 1, 2]));
  assert.throws(() => crossEntropyLoss(l, y), /expected shape/);
  l.dispose(); y.dispose();
});
test.run();
