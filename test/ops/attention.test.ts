// Attention (WASM backend, 2 threads) against the f64 reference: forward (out, lse) and the
// backward against central finite differences of loss = dot(out, R).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { attention, attentionBackward } from '../../engine/ops/attention.ts';
import { wasmBackend, rand, relErr, dot, finiteDiff } from '../helpers.ts';
import { attentionRef, type AttnRefDims } from '../reference/attention.ts';
import { finiteDiffAt, spreadIndices, pick } from '../reference/sampled_grad.ts';

const backend = await wasmBackend();

interface Case { B: number; Tq: number; Tk: number; Hq: number; Hkv: number; hd: number; qPos0: number; keyLen: number[]; sampled?: number; skipPadQueries?: boolean }

async function check(name: string, c: Case, seed: number): Promise<void> {
  const d: AttnRefDims = { ...c, scale: 1 / Math.sqrt(c.hd) };
  const qN = c.B * c.Tq * c.Hq * c.hd, kN = c.B * c.Tk * c.Hkv * c.hd;
  const q = rand(qN, seed, 1.5), k = rand(kN, seed + 1, 1.5), v = rand(kN, seed + 2), R = rand(qN, seed + 3);
  const qT = Tensor.from(backend, [c.B, c.Tq, c.Hq, c.hd], q);
  const kT = Tensor.from(backend, [c.B, c.Tk, c.Hkv, c.hd], k);
  const vT = Tensor.from(backend, [c.B, c.Tk, c.Hkv, c.hd], v);
  const klT = Tensor.from(backend, [c.B], Int32Array.from(c.keyLen));
  const outT = Tensor.zeros(backend, [c.B, c.Tq, c.Hq, c.hd]), lseT = Tensor.zeros(backend, [c.B, c.Hq, c.Tq]);
  const dq = Tensor.zeros(backend, qT.shape), dk = Tensor.zeros(backend, kT.shape), dv = Tensor.zeros(backend, kT.shape);
  const dout = Tensor.from(backend, qT.shape, R);
  // Stale values in every output: the kernels must overwrite, not accumulate.
  for (const t of [outT, lseT, dq, dk, dv]) backend.fill(t.buf, 7, t.size);

  attention(outT, lseT, qT, kT, vT, klT, { qPos0: c.qPos0, skipPadQueries: c.skipPadQueries });
  const out = await outT.toFloat32(), lse = await lseT.toFloat32();
  const ref = attentionRef(q, k, v, c.keyLen, d);
  assert.ok(relErr(out, ref.out) < 1e-5, `${name}: out rel err ${relErr(out, ref.out)} (tol 1e-5)`);
  const emptyRef = [...ref.lse].map((x) => x === -Infinity), empty = [...lse].map((x) => x === -Infinity);
  assert.equal(empty, emptyRef, `${name}: lse is -inf exactly for rows without keys`);
  const fin = (a: Float32Array | Float64Array) => [...a].filter((x) => x !== -Infinity);
  assert.ok(relErr(fin(lse), fin(ref.lse)) < 1e-5, `${name}: lse rel err ${relErr(fin(lse), fin(ref.lse))} (tol 1e-5)`);

  attentionBackward(dq, dk, dv, dout, qT, kT, vT, outT, lseT, klT, { qPos0: c.qPos0, skipPadQueries: c.skipPadQueries });
  const grads = { q: await dq.toFloat32(), k: await dk.toFloat32(), v: await dv.toFloat32() };
  const x64: Record<"q" | "k" | "v", Float64Array> = { q: Float64Array.from(q), k: Float64Array.from(k), v: Float64Array.from(v) };
  const loss = () => dot(attentionRef(x64.q, x64.k, x64.v, c.keyLen, d).out, R);
  for (const which of ['q', 'k', 'v'] as const) {
    const x = x64[which];
    const f = (xx: Float64Array) => { x64[which] = xx; return loss(); };
    let got: ArrayLike<number> = grads[which], fd: Float64Array;
    if (c.sampled) {
      const idx = spreadIndices(x.length, c.sampled);
      fd = finiteDiffAt(f, x, idx);
      got = pick(got, idx);
    } else {
      fd = finiteDiff(f, x);
    }
    x64[which] = x;
    assert.ok(relErr(got, fd) < 1e-4, `${name}: d${which} rel err ${relErr(got, fd)} vs finite differences (tol 1e-4)`);
  }
  // Keys at or past keyLen (padding, unfilled cache) get exactly zero gradient.
  for (let b = 0; b < c.B; b++) for (let j = Math.max(0, c.keyLen[b]); j < c.Tk; j++) {
    const o = (b * c.Tk + j) * c.Hkv * c.hd, n = c.Hkv * c.hd;
    assert.ok(grads.k.subarray(o, o + n).every((x) => x === 0) && grads.v.subarray(o, o + n).every((x) => x === 0),
      `${name}: dk/dv of key ${j} (batch ${b}, keyLen ${c.keyLen[b]}) must be 0`);
  }
  for (const t of [qT, kT, vT, klT, outT, lseT, dq, dk, dv, dout]) t.dispose();
}

test('GQA Hq=4, Hkv=2, with a padded batch element (keyLen < Tq)', () =>
  check('gqa-pad', { B: 2, Tq: 7, Tk: 7, Hq: 4, Hkv: 2, hd: 12, qPos0: 0, keyLen: [7, 4] }, 11));

test('Hq = Hkv, hd not a multiple of 4', () =>
  check('mha-hd6', { B: 1, Tq: 5, Tk: 5, Hq: 3, Hkv: 3, hd: 6, qPos0: 0, keyLen: [5] }, 21));

test('odd hd and a batch element with no keys (out 0, lse -inf, zero gradients)', () =>
  check('empty', { B: 2, Tq: 4, Tk: 4, Hq: 2, Hkv: 1, hd: 5, qPos0: 0, keyLen: [0, 3] }, 31));

test('KV-cache decode: Tq = 1, qPos0 > 0, Tk (capacity) > keyLen', () =>
  check('decode', { B: 2, Tq: 1, Tk: 9, Hq: 4, Hkv: 2, hd: 8, qPos0: 6, keyLen: [7, 5] }, 41));

test('chunked prefill: Tq = 6 rows at qPos0 = 4 into a cache of 10, keyLen 7', () =>
  check('prefill', { B: 1, Tq: 6, Tk: 10, Hq: 4, Hkv: 1, hd: 16, qPos0: 4, keyLen: [7] }, 51));

test('multi-threaded shape (work above the parallel threshold), sampled finite differences', () =>
  check('big', { B: 2, Tq: 40, Tk: 40, Hq: 4, Hkv: 2, hd: 20, qPos0: 0, keyLen: [40, 33], sampled: 48 }, 61));

test('multi-threaded, one kv head per batch (fewer backward units than 2 threads per batch)', () =>
  check('big-mqa', { B: 3, Tq: 23, Tk: 23, Hq: 2, Hkv: 1, hd: 36, qPos0: 0, keyLen: [23, 1, 17], sampled: 40 }, 71));

// skipPadQueries: query rows at or past keyLen are padding (out 0, lse -inf, no gradient), as a
// forward that computes only what reaches the loss asks; rows in blocks of 4 part padded, part not.
test('skipPadQueries: padded query rows get no keys, the others are unchanged (GQA, ragged keyLen)', () =>
  check('skip-pad', { B: 3, Tq: 11, Tk: 11, Hq: 4, Hkv: 2, hd: 12, qPos0: 0, keyLen: [11, 6, 9], skipPadQueries: true }, 81));

test('skipPadQueries, multi-threaded, sampled finite differences', () =>
  check('skip-pad-big', { B: 2, Tq: 40, Tk: 40, Hq: 4, Hkv: 2, hd: 20, qPos0: 0, keyLen: [37, 22], skipPadQueries: true, sampled: 48 }, 91));

// Head dims up to 8 take the keys-in-lanes path (kernels/as/attention/small_hd.ts): the same
// semantics, with its own blocks of rows (32 per forward unit) and its own tails.
test('hd <= 8 path: skipPadQueries, GQA, ragged keyLen, odd hd, more than one block of 32 rows', () =>
  check('small-skip-pad', { B: 3, Tq: 38, Tk: 38, Hq: 4, Hkv: 2, hd: 7, qPos0: 0, keyLen: [38, 6, 35], skipPadQueries: true, sampled: 48 }, 101));

test('hd <= 8 path: chunked prefill at qPos0 > 0 with Tq != Tk, and a batch element with no keys', () =>
  check('small-prefill', { B: 2, Tq: 37, Tk: 45, Hq: 6, Hkv: 2, hd: 8, qPos0: 5, keyLen: [41, 0], sampled: 48 }, 111));

test('shape checks reject mismatched tensors', () => {
  const q = Tensor.zeros(backend, [1, 2, 3, 4]), k = Tensor.zeros(backend, [1, 2, 2, 4]);
  const kl = Tensor.from(backend, [1], Int32Array.from([2]));
  const out = Tensor.zeros(backend, [1, 2, 3, 4]), lse = Tensor.zeros(backend, [1, 3, 2]);
  assert.throws(() => attention(out, lse, q, k, k, kl), /not a multiple/);
  for (const t of [q, k, kl, out, lse]) t.dispose();
});

test.run();
