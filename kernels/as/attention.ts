// Causal grouped-query attention, flash style (no T x T matrix), and its backward.
// WGSL twin: kernels/wgsl/attention.wgsl. Layouts: q/out [B,Tq,Hq,hd], k/v [B,Tk,Hkv,hd]
// (Tk is the row stride, a KV cache's capacity), lse [B,Hq,Tq], keyLen i32 [B].
// Query i of batch b sees keys j <= qPos0 + i and j < keyLen[b]; query head h reads kv head
// h / (Hq/Hkv). A query with no visible key gets out = 0, lse = -inf and zero gradients. With
// skipPad, query rows at or past keyLen[b] (qPos0 + i >= keyLen[b]) are padding: treated as rows
// with no visible key (no work, out = 0, lse = -inf, nothing added to dk, dv).
// Two paths, chosen by shape only: head dims up to 8 (with enough query rows, and keys that fit
// the per-thread scratch, common/scratch.ts) take attention/small_hd.ts, keys in the SIMD lanes;
// every other shape the kernels below, vectorized along hd.
import { exp4 } from './common/exp4';
import { madd } from './common/madd';
import { SCRATCH_SLICE_BYTES } from './common/scratch';
import { queryEnd, visibleKeys } from './attention/mask';
import { backwardSmallHd, forwardSmallHd, smallHdFits } from './attention/small_hd';

// ---- hd-length vector helpers (v128 body, scalar tail for hd not a multiple of 4) ----

@inline function dot(a: usize, b: usize, n: i32): f32 {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let c = 0;
  for (; c + 8 <= n; c += 8) {
    const o = <usize>c << 2;
    acc0 = madd(v128.load(a + o), v128.load(b + o), acc0);
    acc1 = madd(v128.load(a + o, 16), v128.load(b + o, 16), acc1);
  }
  if (c + 4 <= n) {
    const o = <usize>c << 2;
    acc0 = madd(v128.load(a + o), v128.load(b + o), acc0);
    c += 4;
  }
  const acc = f32x4.add(acc0, acc1);
  let s = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  for (; c < n; c++) s += load<f32>(a + (<usize>c << 2)) * load<f32>(b + (<usize>c << 2));
  return s;
}

/** y = alpha * y */
@inline function scaleRow(y: usize, alpha: f32, n: i32): void {
  const a4 = f32x4.splat(alpha);
  let c = 0;
  for (; c + 4 <= n; c += 4) v128.store(y + (<usize>c << 2), f32x4.mul(v128.load(y + (<usize>c << 2)), a4));
  for (; c < n; c++) store<f32>(y + (<usize>c << 2), load<f32>(y + (<usize>c << 2)) * alpha);
}

/** y += p0 x0 + p1 x1 + p2 x2 + p3 x3: one pass over y for four value rows. */
@inline function axpy4(y: usize, x0: usize, x1: usize, x2: usize, x3: usize, p0: f32, p1: f32, p2: f32, p3: f32, n: i32): void {
  const a0 = f32x4.splat(p0), a1 = f32x4.splat(p1), a2 = f32x4.splat(p2), a3 = f32x4.splat(p3);
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    const t01 = madd(v128.load(x1 + o), a1, f32x4.mul(v128.load(x0 + o), a0));
    const t23 = madd(v128.load(x3 + o), a3, f32x4.mul(v128.load(x2 + o), a2));
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.add(t01, t23)));
  }
  for (; c < n; c++) {
    const o = <usize>c << 2;
    store<f32>(y + o, load<f32>(y + o) + ((load<f32>(x0 + o) * p0 + load<f32>(x1 + o) * p1) + (load<f32>(x2 + o) * p2 + load<f32>(x3 + o) * p3)));
  }
}

@inline function axpy(y: usize, x: usize, alpha: f32, n: i32): void {
  const a4 = f32x4.splat(alpha);
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    v128.store(y + o, madd(v128.load(x + o), a4, v128.load(y + o)));
  }
  for (; c < n; c++) {
    const o = <usize>c << 2;
    store<f32>(y + o, load<f32>(y + o) + load<f32>(x + o) * alpha);
  }
}

// ---- 4-lane helpers for blocks of 4 query rows ----

/** [sum(a0), sum(a1), sum(a2), sum(a3)]: four horizontal sums in one vector. */
@inline function hsum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 2, 6), v128.shuffle<f32>(a0, a1, 1, 5, 3, 7));
  const s23 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 2, 6), v128.shuffle<f32>(a2, a3, 1, 5, 3, 7));
  return f32x4.add(v128.shuffle<f32>(s01, s23, 0, 1, 4, 5), v128.shuffle<f32>(s01, s23, 2, 3, 6, 7));
}

@inline function lane(v: v128, i: i32): v128 {
  // i is a compile-time constant at every call site once inlined
  return f32x4.splat(i == 0 ? f32x4.extract_lane(v, 0) : i == 1 ? f32x4.extract_lane(v, 1) : i == 2 ? f32x4.extract_lane(v, 2) : f32x4.extract_lane(v, 3));
}

/**
 * Forward. The work units are blocks of 4 query rows of one (b, h), taken round-robin by the
 * threads: under the causal mask later rows see more keys, and striding spreads that evenly.
 * A block shares every key/value load between its 4 rows; the last rows of a head (Tq mod 4)
 * go one by one. Rows accumulate in their own out rows (no scratch memory).
 */
export function attention(out: usize, lse: usize, q: usize, k: usize, v: usize, keyLen: usize,
  B: i32, Tq: i32, Tk: i32, Hq: i32, Hkv: i32, hd: i32, qPos0: i32, scale: f32, skipPad: i32, scratch: usize, tid: i32, nthreads: i32): void {
  if (scratch != 0 && smallHdFits(hd, Tq, Tk, SCRATCH_SLICE_BYTES)) {
    forwardSmallHd(out, lse, q, k, v, keyLen, B, Tq, Tk, Hq, Hkv, hd, qPos0, scale, skipPad,
      scratch + <usize>tid * SCRATCH_SLICE_BYTES, tid, nthreads);
    return;
  }
  const group = Hq / Hkv;
  const blocksPerHead = (Tq + 3) >> 2;
  const units = B * Hq * blocksPerHead;
  const kvStride = <usize>(Hkv * hd) << 2; // bytes between key rows j and j+1
  const qStride = <usize>(Hq * hd) << 2;   // bytes between query rows i and i+1 of a head
  for (let u = tid; u < units; u += nthreads) {
    const i0 = (u % blocksPerHead) << 2, bh = u / blocksPerHead, h = bh % Hq, b = bh / Hq;
    const g = h / group;
    const qOff = (<usize>((b * Tq + i0) * Hq + h) * <usize>hd) << 2;
    const kvOff = (<usize>(b * Tk * Hkv + g) * <usize>hd) << 2;
    const lsePtr = lse + (<usize>(bh * Tq + i0) << 2); // lse [B,Hq,Tq]
    const qEnd = queryEnd(keyLen, b, Tq, Tk, qPos0, skipPad);
    if (i0 + 4 <= qEnd) {
      forwardBlock4(out + qOff, q + qOff, qStride, lsePtr,
        i32x4(visibleKeys(keyLen, b, i0, Tk, qPos0), visibleKeys(keyLen, b, i0 + 1, Tk, qPos0),
          visibleKeys(keyLen, b, i0 + 2, Tk, qPos0), visibleKeys(keyLen, b, i0 + 3, Tk, qPos0)),
        k + kvOff, v + kvOff, kvStride, hd, scale);
    } else {
      for (let i = i0; i < min(i0 + 4, Tq); i++) {
        const ro = <usize>(i - i0) * qStride;
        forwardRow(out + qOff + ro, q + qOff + ro, lsePtr + (<usize>(i - i0) << 2), i < qEnd ? visibleKeys(keyLen, b, i, Tk, qPos0) : 0,
          k + kvOff, v + kvOff, kvStride, hd, scale);
      }
    }
  }
}

/** One query row against its nk visible keys, keys in blocks of 4 (online softmax). */
function forwardRow(orow: usize, qr: usize, lsePtr: usize, nk: i32, kb: usize, vb: usize, kvStride: usize, hd: i32, scale: f32): void {
  memory.fill(orow, 0, <usize>hd << 2);
  if (nk == 0) { store<f32>(lsePtr, -Infinity); return; }
  let m: f32 = -Infinity, l: f32 = 0;
  let j = 0;
  for (; j + 4 <= nk; j += 4) {
    const k0 = kb + <usize>j * kvStride, v0 = vb + <usize>j * kvStride;
    const s4 = f32x4.mul(f32x4(dot(qr, k0, hd), dot(qr, k0 + kvStride, hd), dot(qr, k0 + 2 * kvStride, hd),
      dot(qr, k0 + 3 * kvStride, hd)), f32x4.splat(scale));
    const bm = max(max(f32x4.extract_lane(s4, 0), f32x4.extract_lane(s4, 1)), max(f32x4.extract_lane(s4, 2), f32x4.extract_lane(s4, 3)));
    if (bm > m) {
      if (m != -Infinity) {
        const a = Mathf.exp(m - bm);
        l *= a;
        scaleRow(orow, a, hd);
      }
      m = bm;
    }
    const p4 = exp4(f32x4.sub(s4, f32x4.splat(m)));
    const p0 = f32x4.extract_lane(p4, 0), p1 = f32x4.extract_lane(p4, 1), p2 = f32x4.extract_lane(p4, 2), p3 = f32x4.extract_lane(p4, 3);
    l += (p0 + p1) + (p2 + p3);
    axpy4(orow, v0, v0 + kvStride, v0 + 2 * kvStride, v0 + 3 * kvStride, p0, p1, p2, p3, hd);
  }
  for (; j < nk; j++) {
    const s = dot(qr, kb + <usize>j * kvStride, hd) * scale;
    if (s > m) {
      if (m != -Infinity) {
        const a = Mathf.exp(m - s);
        l *= a;
        scaleRow(orow, a, hd);
      }
      m = s;
    }
    const p = Mathf.exp(s - m);
    l += p;
    axpy(orow, vb + <usize>j * kvStride, p, hd);
  }
  scaleRow(orow, 1.0 / l, hd);
  store<f32>(lsePtr, m + Mathf.log(l));
}

/**
 * 4 consecutive query rows (row stride qStride bytes) against their visible keys (nk4,
 * ascending): one score per row per key, a running max m and sum l per row in 4 lanes, and one
 * pass over hd per key that rescales the 4 out rows and adds p * v_j. The running max starts at
 * -1e30, not -inf, so that a masked key (score -inf) leaves a row unchanged: exp(m - m) = 1.
 */
function forwardBlock4(out: usize, q: usize, qStride: usize, lsePtr: usize, nk4: v128,
  k: usize, v: usize, kvStride: usize, hd: i32, scale: f32): void {
  const r0 = out, r1 = out + qStride, r2 = out + 2 * qStride, r3 = out + 3 * qStride;
  const rowBytes = <usize>hd << 2;
  memory.fill(r0, 0, rowBytes); memory.fill(r1, 0, rowBytes); memory.fill(r2, 0, rowBytes); memory.fill(r3, 0, rowBytes);
  const scale4 = f32x4.splat(scale), minusInf = f32x4.splat(-Infinity);
  let m4 = f32x4.splat(-1e30), l4 = f32x4.splat(0);
  const jEnd = i32x4.extract_lane(nk4, 3);
  const vec = hd & ~3;
  let j = 0;
  // Steps of 4 keys: one rescale of the out rows and one pass over hd for 4 value rows.
  for (; j + 4 <= jEnd; j += 4) {
    const kj = k + <usize>j * kvStride, vj = v + <usize>j * kvStride;
    const S0 = scores4(q, qStride, kj, hd, vec, scale4, minusInf, j, nk4);
    const S1 = scores4(q, qStride, kj + kvStride, hd, vec, scale4, minusInf, j + 1, nk4);
    const S2 = scores4(q, qStride, kj + 2 * kvStride, hd, vec, scale4, minusInf, j + 2, nk4);
    const S3 = scores4(q, qStride, kj + 3 * kvStride, hd, vec, scale4, minusInf, j + 3, nk4);
    const mNew = f32x4.max(f32x4.max(m4, f32x4.max(S0, S1)), f32x4.max(S2, S3));
    const alpha4 = exp4(f32x4.sub(m4, mNew));
    const P0 = exp4(f32x4.sub(S0, mNew)), P1 = exp4(f32x4.sub(S1, mNew));
    const P2 = exp4(f32x4.sub(S2, mNew)), P3 = exp4(f32x4.sub(S3, mNew));
    l4 = f32x4.add(f32x4.mul(l4, alpha4), f32x4.add(f32x4.add(P0, P1), f32x4.add(P2, P3)));
    m4 = mNew;
    const v1 = vj + kvStride, v2 = vj + 2 * kvStride, v3 = vj + 3 * kvStride;
    updateRow4(r0, vj, v1, v2, v3, lane(alpha4, 0), lane(P0, 0), lane(P1, 0), lane(P2, 0), lane(P3, 0), hd, vec);
    updateRow4(r1, vj, v1, v2, v3, lane(alpha4, 1), lane(P0, 1), lane(P1, 1), lane(P2, 1), lane(P3, 1), hd, vec);
    updateRow4(r2, vj, v1, v2, v3, lane(alpha4, 2), lane(P0, 2), lane(P1, 2), lane(P2, 2), lane(P3, 2), hd, vec);
    updateRow4(r3, vj, v1, v2, v3, lane(alpha4, 3), lane(P0, 3), lane(P1, 3), lane(P2, 3), lane(P3, 3), hd, vec);
  }
  for (; j < jEnd; j++) {
    const kj = k + <usize>j * kvStride, vj = v + <usize>j * kvStride;
    const s4 = scores4(q, qStride, kj, hd, vec, scale4, minusInf, j, nk4);
    const mNew = f32x4.max(m4, s4);
    const alpha4 = exp4(f32x4.sub(m4, mNew));
    const p4 = exp4(f32x4.sub(s4, mNew));
    l4 = f32x4.add(f32x4.mul(l4, alpha4), p4);
    m4 = mNew;
    const a0 = lane(alpha4, 0), a1 = lane(alpha4, 1), a2 = lane(alpha4, 2), a3 = lane(alpha4, 3);
    const p0 = lane(p4, 0), p1 = lane(p4, 1), p2 = lane(p4, 2), p3 = lane(p4, 3);
    for (let c = 0; c < vec; c += 4) {
      const o = <usize>c << 2;
      const vc = v128.load(vj + o);
      v128.store(r0 + o, madd(vc, p0, f32x4.mul(v128.load(r0 + o), a0)));
      v128.store(r1 + o, madd(vc, p1, f32x4.mul(v128.load(r1 + o), a1)));
      v128.store(r2 + o, madd(vc, p2, f32x4.mul(v128.load(r2 + o), a2)));
      v128.store(r3 + o, madd(vc, p3, f32x4.mul(v128.load(r3 + o), a3)));
    }
    for (let c = vec; c < hd; c++) {
      const o = <usize>c << 2;
      const vc = load<f32>(vj + o);
      store<f32>(r0 + o, load<f32>(r0 + o) * f32x4.extract_lane(a0, 0) + vc * f32x4.extract_lane(p0, 0));
      store<f32>(r1 + o, load<f32>(r1 + o) * f32x4.extract_lane(a1, 0) + vc * f32x4.extract_lane(p1, 0));
      store<f32>(r2 + o, load<f32>(r2 + o) * f32x4.extract_lane(a2, 0) + vc * f32x4.extract_lane(p2, 0));
      store<f32>(r3 + o, load<f32>(r3 + o) * f32x4.extract_lane(a3, 0) + vc * f32x4.extract_lane(p3, 0));
    }
  }
  finishRow(r0, lsePtr, i32x4.extract_lane(nk4, 0), f32x4.extract_lane(m4, 0), f32x4.extract_lane(l4, 0), hd);
  finishRow(r1, lsePtr + 4, i32x4.extract_lane(nk4, 1), f32x4.extract_lane(m4, 1), f32x4.extract_lane(l4, 1), hd);
  finishRow(r2, lsePtr + 8, i32x4.extract_lane(nk4, 2), f32x4.extract_lane(m4, 2), f32x4.extract_lane(l4, 2), hd);
  finishRow(r3, lsePtr + 12, i32x4.extract_lane(nk4, 3), f32x4.extract_lane(m4, 3), f32x4.extract_lane(l4, 3), hd);
}

/** Scaled scores of the 4 query rows (stride qStride) against key row kj; -inf where j >= nk. */
@inline function scores4(q: usize, qStride: usize, kj: usize, hd: i32, vec: i32, scale4: v128, minusInf: v128, j: i32, nk4: v128): v128 {
  const q0 = q, q1 = q + qStride, q2 = q + 2 * qStride, q3 = q + 3 * qStride;
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  for (let c = 0; c < vec; c += 4) {
    const o = <usize>c << 2;
    const kc = v128.load(kj + o);
    s0 = madd(v128.load(q0 + o), kc, s0);
    s1 = madd(v128.load(q1 + o), kc, s1);
    s2 = madd(v128.load(q2 + o), kc, s2);
    s3 = madd(v128.load(q3 + o), kc, s3);
  }
  let s4 = hsum4(s0, s1, s2, s3);
  for (let c = vec; c < hd; c++) {
    const o = <usize>c << 2;
    const kc = load<f32>(kj + o);
    s4 = f32x4.add(s4, f32x4(load<f32>(q0 + o) * kc, load<f32>(q1 + o) * kc, load<f32>(q2 + o) * kc, load<f32>(q3 + o) * kc));
  }
  return v128.bitselect(f32x4.mul(s4, scale4), minusInf, i32x4.lt_s(i32x4.splat(j), nk4));
}

/** row = row * a + p0 v0 + p1 v1 + p2 v2 + p3 v3 (a, p: splatted). */
@inline function updateRow4(row: usize, v0: usize, v1: usize, v2: usize, v3: usize, a: v128, p0: v128, p1: v128, p2: v128, p3: v128, hd: i32, vec: i32): void {
  for (let c = 0; c < vec; c += 4) {
    const o = <usize>c << 2;
    const t01 = madd(v128.load(v1 + o), p1, f32x4.mul(v128.load(v0 + o), p0));
    const t23 = madd(v128.load(v3 + o), p3, f32x4.mul(v128.load(v2 + o), p2));
    v128.store(row + o, f32x4.add(f32x4.mul(v128.load(row + o), a), f32x4.add(t01, t23)));
  }
  const as = f32x4.extract_lane(a, 0);
  const e0 = f32x4.extract_lane(p0, 0), e1 = f32x4.extract_lane(p1, 0), e2 = f32x4.extract_lane(p2, 0), e3 = f32x4.extract_lane(p3, 0);
  for (let c = vec; c < hd; c++) {
    const o = <usize>c << 2;
    store<f32>(row + o, load<f32>(row + o) * as + ((load<f32>(v0 + o) * e0 + load<f32>(v1 + o) * e1) + (load<f32>(v2 + o) * e2 + load<f32>(v3 + o) * e3)));
  }
}

/** out /= l and lse = m + log l; a row without keys keeps out = 0 and gets lse = -inf. */
@inline function finishRow(orow: usize, lsePtr: usize, nk: i32, m: f32, l: f32, hd: i32): void {
  if (nk == 0) { store<f32>(lsePtr, -Infinity); return; }
  scaleRow(orow, 1.0 / l, hd);
  store<f32>(lsePtr, m + Mathf.log(l));
}

/**
 * Backward (recomputes p = exp(s - lse)):
 *   D_i = dout_i . out_i;  dv_j += p_ij dout_i;  ds_ij = p_ij (dout_i . v_j - D_i)
 *   dq_i = scale sum_j ds_ij k_j;  dk_j += scale sum_i ds_ij q_i
 * Threads take (b, kv head) units: a unit owns dk/dv of that head and dq of its query heads,
 * so nothing is written by two threads. Every owned element is zeroed first, so keys past
 * keyLen end with dk = dv = 0.
 */
export function attention_backward(dq: usize, dk: usize, dv: usize, dout: usize, q: usize, k: usize, v: usize,
  out: usize, lse: usize, keyLen: usize, B: i32, Tq: i32, Tk: i32, Hq: i32, Hkv: i32, hd: i32, qPos0: i32, scale: f32,
  skipPad: i32, scratch: usize, tid: i32, nthreads: i32): void {
  if (scratch != 0 && smallHdFits(hd, Tq, Tk, SCRATCH_SLICE_BYTES)) {
    backwardSmallHd(dq, dk, dv, dout, q, k, v, out, lse, keyLen, B, Tq, Tk, Hq, Hkv, hd, qPos0, scale, skipPad,
      scratch + <usize>tid * SCRATCH_SLICE_BYTES, tid, nthreads);
    return;
  }
  const group = Hq / Hkv;
  const units = B * Hkv;
  const kvStride = <usize>(Hkv * hd) << 2;
  const rowBytes = <usize>hd << 2;
  for (let u = tid; u < units; u += nthreads) {
    const b = u / Hkv, g = u % Hkv;
    const kvOff = (<usize>(b * Tk * Hkv + g) * <usize>hd) << 2;
    for (let j = 0; j < Tk; j++) {
      memory.fill(dk + kvOff + <usize>j * kvStride, 0, rowBytes);
      memory.fill(dv + kvOff + <usize>j * kvStride, 0, rowBytes);
    }
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let i = 0; i < Tq; i++) {
        const qOff = (<usize>((b * Tq + i) * Hq + h) * <usize>hd) << 2;
        memory.fill(dq + qOff, 0, rowBytes);
      }
    }
    // padding query rows (skipPad) keep dq = 0 and add nothing
    const qEnd = queryEnd(keyLen, b, Tq, Tk, qPos0, skipPad);
    for (let h = g * group; h < (g + 1) * group; h++) {
      let i = 0;
      for (; i + 4 <= qEnd; i += 4) {
        const qOff = (<usize>((b * Tq + i) * Hq + h) * <usize>hd) << 2;
        backwardBlock4(dq + qOff, dout + qOff, q + qOff, out + qOff, <usize>(Hq * hd) << 2,
          lse + (<usize>((b * Hq + h) * Tq + i) << 2),
          i32x4(visibleKeys(keyLen, b, i, Tk, qPos0), visibleKeys(keyLen, b, i + 1, Tk, qPos0),
            visibleKeys(keyLen, b, i + 2, Tk, qPos0), visibleKeys(keyLen, b, i + 3, Tk, qPos0)),
          dk + kvOff, dv + kvOff, k + kvOff, v + kvOff, kvStride, hd, scale);
      }
      for (; i < qEnd; i++) {
        const nk = visibleKeys(keyLen, b, i, Tk, qPos0);
        if (nk == 0) continue;
        const qOff = (<usize>((b * Tq + i) * Hq + h) * <usize>hd) << 2;
        backwardRow(dq + qOff, dout + qOff, q + qOff, out + qOff, load<f32>(lse + (<usize>((b * Hq + h) * Tq + i) << 2)),
          nk, dk + kvOff, dv + kvOff, k + kvOff, v + kvOff, kvStride, hd, scale);
      }
    }
  }
}

/** The backward of one query row against its nk visible keys (tail rows of a head). */
function backwardRow(dqr: usize, dor: usize, qr: usize, orow: usize, L: f32, nk: i32,
  dk: usize, dv: usize, k: usize, v: usize, kvStride: usize, hd: i32, scale: f32): void {
  const Di = dot(dor, orow, hd);
  for (let j = 0; j < nk; j++) {
    const jo = <usize>j * kvStride;
    const p = Mathf.exp(dot(qr, k + jo, hd) * scale - L);
    const ds = p * (dot(dor, v + jo, hd) - Di) * scale;
    axpy(dv + jo, dor, p, hd);
    axpy(dk + jo, qr, ds, hd);
    axpy(dqr, k + jo, ds, hd);
  }
}

/**
 * The backward of 4 consecutive query rows of one head (row stride qStride bytes): each key row
 * k_j, v_j is loaded once for the 4 rows and dk_j, dv_j are updated once with their 4 terms, which
 * quarters the memory traffic over the keys. nk4 holds the rows' visible key counts (ascending);
 * lanes past a row's count are masked to p = 0.
 */
function backwardBlock4(dq: usize, dout: usize, q: usize, out: usize, qStride: usize, lsePtr: usize, nk4: v128,
  dk: usize, dv: usize, k: usize, v: usize, kvStride: usize, hd: i32, scale: f32): void {
  const q0 = q, q1 = q + qStride, q2 = q + 2 * qStride, q3 = q + 3 * qStride;
  const o0 = dout, o1 = dout + qStride, o2 = dout + 2 * qStride, o3 = dout + 3 * qStride;
  const g0 = dq, g1 = dq + qStride, g2 = dq + 2 * qStride, g3 = dq + 3 * qStride;
  const D4 = f32x4(dot(o0, out, hd), dot(o1, out + qStride, hd), dot(o2, out + 2 * qStride, hd), dot(o3, out + 3 * qStride, hd));
  const L4 = v128.load(lsePtr);
  const scale4 = f32x4.splat(scale);
  const jEnd = i32x4.extract_lane(nk4, 3);
  const vec = hd & ~3;
  for (let j = 0; j < jEnd; j++) {
    const jo = <usize>j * kvStride;
    const kj = k + jo, vj = v + jo;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let t0 = f32x4.splat(0), t1 = f32x4.splat(0), t2 = f32x4.splat(0), t3 = f32x4.splat(0);
    for (let c = 0; c < vec; c += 4) {
      const o = <usize>c << 2;
      const kc = v128.load(kj + o), vc = v128.load(vj + o);
      s0 = madd(v128.load(q0 + o), kc, s0);
      s1 = madd(v128.load(q1 + o), kc, s1);
      s2 = madd(v128.load(q2 + o), kc, s2);
      s3 = madd(v128.load(q3 + o), kc, s3);
      t0 = madd(v128.load(o0 + o), vc, t0);
      t1 = madd(v128.load(o1 + o), vc, t1);
      t2 = madd(v128.load(o2 + o), vc, t2);
      t3 = madd(v128.load(o3 + o), vc, t3);
    }
    let s4 = hsum4(s0, s1, s2, s3), dp4 = hsum4(t0, t1, t2, t3);
    for (let c = vec; c < hd; c++) {
      const o = <usize>c << 2;
      const kc = load<f32>(kj + o), vc = load<f32>(vj + o);
      s4 = f32x4.add(s4, f32x4(load<f32>(q0 + o) * kc, load<f32>(q1 + o) * kc, load<f32>(q2 + o) * kc, load<f32>(q3 + o) * kc));
      dp4 = f32x4.add(dp4, f32x4(load<f32>(o0 + o) * vc, load<f32>(o1 + o) * vc, load<f32>(o2 + o) * vc, load<f32>(o3 + o) * vc));
    }
    const visible = i32x4.lt_s(i32x4.splat(j), nk4);
    const p4 = v128.and(exp4(f32x4.sub(f32x4.mul(s4, scale4), L4)), visible);
    const ds4 = f32x4.mul(f32x4.mul(p4, f32x4.sub(dp4, D4)), scale4);
    const p0 = lane(p4, 0), p1 = lane(p4, 1), p2 = lane(p4, 2), p3 = lane(p4, 3);
    const d0 = lane(ds4, 0), d1 = lane(ds4, 1), d2 = lane(ds4, 2), d3 = lane(ds4, 3);
    const dkj = dk + jo, dvj = dv + jo;
    for (let c = 0; c < vec; c += 4) {
      const o = <usize>c << 2;
      const pv = f32x4.add(madd(v128.load(o1 + o), p1, f32x4.mul(v128.load(o0 + o), p0)),
        madd(v128.load(o3 + o), p3, f32x4.mul(v128.load(o2 + o), p2)));
      v128.store(dvj + o, f32x4.add(v128.load(dvj + o), pv));
      const qs = f32x4.add(madd(v128.load(q1 + o), d1, f32x4.mul(v128.load(q0 + o), d0)),
        madd(v128.load(q3 + o), d3, f32x4.mul(v128.load(q2 + o), d2)));
      v128.store(dkj + o, f32x4.add(v128.load(dkj + o), qs));
      const kc = v128.load(kj + o);
      v128.store(g0 + o, madd(kc, d0, v128.load(g0 + o)));
      v128.store(g1 + o, madd(kc, d1, v128.load(g1 + o)));
      v128.store(g2 + o, madd(kc, d2, v128.load(g2 + o)));
      v128.store(g3 + o, madd(kc, d3, v128.load(g3 + o)));
    }
    for (let c = vec; c < hd; c++) {
      const o = <usize>c << 2;
      const e0 = f32x4.extract_lane(p4, 0), e1 = f32x4.extract_lane(p4, 1), e2 = f32x4.extract_lane(p4, 2), e3 = f32x4.extract_lane(p4, 3);
      const f0 = f32x4.extract_lane(ds4, 0), f1 = f32x4.extract_lane(ds4, 1), f2 = f32x4.extract_lane(ds4, 2), f3 = f32x4.extract_lane(ds4, 3);
      store<f32>(dvj + o, load<f32>(dvj + o) + ((load<f32>(o0 + o) * e0 + load<f32>(o1 + o) * e1) + (load<f32>(o2 + o) * e2 + load<f32>(o3 + o) * e3)));
      store<f32>(dkj + o, load<f32>(dkj + o) + ((load<f32>(q0 + o) * f0 + load<f32>(q1 + o) * f1) + (load<f32>(q2 + o) * f2 + load<f32>(q3 + o) * f3)));
      const kc = load<f32>(kj + o);
      store<f32>(g0 + o, load<f32>(g0 + o) + kc * f0);
      store<f32>(g1 + o, load<f32>(g1 + o) + kc * f1);
      store<f32>(g2 + o, load<f32>(g2 + o) + kc * f2);
      store<f32>(g3 + o, load<f32>(g3 + o) + kc * f3);
    }
  }
}
