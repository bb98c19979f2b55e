// Tensor.view: the same buffer under another shape, owning nothing. The model hands its [rows,
// features] activations to the shape-checked ops through views, so a view must see every write
// to its owner (and the reverse), cost no device memory, and fail loudly once its owner is gone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { axpy } from '../../engine/ops/elementwise.ts';
import { wasmBackend } from '../helpers.ts';

const backend = await wasmBackend();

test('a view shares its owner\'s buffer both ways and allocates nothing', async () => {
  const t = Tensor.from(backend, [2, 6], Float32Array.from({ length: 12 }, (_, i) => i));
  const before = backend.bytesInUse();
  const v = t.view([2, 3, 2]);
  assert.is(backend.bytesInUse(), before, 'no new buffer');
  assert.equal(v.shape, [2, 3, 2]);
  assert.ok(v.isView && !t.isView);
  const ones = Tensor.from(backend, [12], new Float32Array(12).fill(1));
  axpy(v, ones, 1); // written through the view
  ones.dispose();
  assert.equal(Array.from(await t.toFloat32()), Array.from({ length: 12 }, (_, i) => i + 1), 'the owner sees writes to the view');
  const vv = v.view([12]);
  assert.equal(Array.from(await vv.toFloat32()), Array.from(await t.toFloat32()), 'a view of a view reads the same buffer');
  v.dispose();
  assert.is(backend.bytesInUse(), before, 'disposing a view frees nothing');
  assert.ok(!t.disposed);
  assert.throws(() => v.buf, /used after dispose/);
  t.dispose();
  assert.throws(() => vv.buf, /used after dispose/, 'a view is unusable once its owner is disposed');
  assert.ok(vv.disposed);
});

test('view shapes: one -1 is inferred; a different size is refused', () => {
  const t = Tensor.zeros(backend, [4, 6]);
  assert.equal(t.view([2, -1, 3]).shape, [2, 4, 3]);
  assert.equal(t.view([-1]).shape, [24]);
  assert.throws(() => t.view([5, 5]), /viewed as \[5, 5\]/);
  assert.throws(() => t.view([-1, 5]), /cannot view/);
  t.dispose();
});

test.run();
