// Embedding drift: zero for identical inputs, a hand-computed value otherwise, padding excluded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { embeddingDrift, type HiddenBatch } from '../../engine/eval/drift.ts';
import { rand } from '../helpers.ts';

test('drift is zero for identical attention outputs (padding content irrelevant)', () => {
  const B = 3, T = 5, D = 4, L = 2;
  const layers = Array.from({ length: L }, (_, l) => rand(B * T * D, 10 + l));
  const h: HiddenBatch = { B, T, D, lengths: [5, 2, 0], layers };
  assert.is(embeddingDrift(h, { ...h, layers: layers.map((x) => Float32Array.from(x)) }), 0);
});

test('drift by hand: two layers, two samples, the padded rows excluded', () => {
  // B = 2, T = 2, D = 2; sample 0 has both positions, sample 1 only its first
  const B = 2, T = 2, D = 2;
  const h0 = [new Float32Array([0, 0, 0, 0, 0, 0, 0, 0]), new Float32Array([1, 1, 1, 1, 1, 1, 1, 1])];
  // layer 0: sample 0 pos 0 (1, 2), pos 1 (0, -1); sample 1 pos 0 (3, 0), pos 1 = padding (100, 100)
  // layer 1: sample 0 pos 0 (1, 1) (no change), pos 1 (1.5, 1); sample 1 pos 0 (1, -1), padding (-50, 7)
  const h = [new Float32Array([1, 2, 0, -1, 3, 0, 100, 100]), new Float32Array([1, 1, 1.5, 1, 1, -1, -50, 7])];
  // layer 0: (1 + 4) + (0 + 1) + (9 + 0) = 15; layer 1: 0 + (0.25 + 0) + (0 + 4) = 4.25
  const a: HiddenBatch = { B, T, D, lengths: [2, 1], layers: h };
  const b: HiddenBatch = { B, T, D, lengths: Int32Array.from([2, 1]), layers: h0 };
  assert.is(embeddingDrift(a, b), 19.25);
  assert.is(embeddingDrift(b, a), 19.25);
  // unmasked (the reference's padded sum) would add the padding rows: layer 0 (10000 + 10000), layer 1 (2601 + 36)
  assert.is(embeddingDrift({ ...a, lengths: [2, 2] }, { ...b, lengths: [2, 2] }), 19.25 + 20000 + 2637);
});

test('drift: mismatched shapes, layer counts, lengths are errors', () => {
  const x = new Float32Array(8);
  const h: HiddenBatch = { B: 2, T: 2, D: 2, lengths: [2, 1], layers: [x] };
  assert.throws(() => embeddingDrift(h, { ...h, D: 4 }), /shapes differ/);
  assert.throws(() => embeddingDrift(h, { ...h, layers: [x, x] }), /1 layers vs 2/);
  assert.throws(() => embeddingDrift(h, { ...h, lengths: [2, 2] }), /sample 1 has length 1 in one batch and 2/);
  assert.throws(() => embeddingDrift({ ...h, lengths: [3, 1] }, { ...h, lengths: [3, 1] }), /outside \[0, 2\]/);
  assert.throws(() => embeddingDrift({ ...h, layers: [new Float32Array(7)] }, h), /layer 0 has 7/);
});

test.run();
