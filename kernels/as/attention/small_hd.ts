// Attention for head dims up to 8 (stories260K: hd 8), keys in the SIMD lanes. Same semantics
// and layouts as kernels/as/attention.ts, which calls these where the per-thread scratch holds
// a (b, kv head)'s keys (smallHdFits). Along hd, as the general path goes, a dot product of 8
// is two multiplies and a horizontal sum of shuffles per key; here a unit first copies its
// keys (and values) into the thread's scratch, transposed in chunks of 4 keys x 8 dims
// (zero-padded past hd and past the last visible key), so that the scores of one query row
// against 4 keys are 8 fused multiply-adds of a broadcast q element with a chunk row: no
// horizontal sums, and the softmax works on 4 keys at a time.
// The forward takes two passes over a row's keys (scores and their max, then p and p.V)
// instead of the online rescaling; the result is the same up to f32 rounding.
// Work units depend on the shape only, and each is computed whole by one thread, so the
// result does not depend on the thread count.
import { exp4 } from '../common/exp4';
import { madd } from '../common/madd';
import { queryEnd, visibleKeys } from './mask';

/** Query rows per forward unit: the unit copies the keys its rows see once. */
const ROWS = 32;
/** Fewer query rows than this take the general path (smallHdFits). */
const MIN_ROWS = 16;

@inline function pad4(n: i32): i32 { return (n + 3) & ~3; }

/**
 * Whether this path takes the shape: hd <= 8, Tk keys fit in a thread's scratch of sliceBytes
 * (the backward needs the most), and at least MIN_ROWS query rows, which share the cost of
 * copying the keys (a KV-cache decode step, Tq = 1, would spend more on it than on its scores).
 */
export function smallHdFits(hd: i32, Tq: i32, Tk: i32, sliceBytes: usize): bool {
  return hd <= 8 && Tq >= MIN_ROWS && <usize>pad4(Tk) * 160 + 512 <= sliceBytes;
}

// ---- copies into and out of the scratch ----
// (loops, not memory.copy / memory.fill: those are calls into the engine, slow for 8 floats)

/** n floats (n <= 8 here) from src to dst. */
@inline function copyFloats(dst: usize, src: usize, n: i32): void {
  if (n == 8) {
    v128.store(dst, v128.load(src));
    v128.store(dst, v128.load(src, 16), 16);
    return;
  }
  for (let c = 0; c < n; c++) store<f32>(dst + (<usize>c << 2), load<f32>(src + (<usize>c << 2)));
}

/** Zeroes bytes (a multiple of 16) at dst. */
@inline function zero(dst: usize, bytes: usize): void {
  const z = f32x4.splat(0);
  for (let o: usize = 0; o < bytes; o += 16) v128.store(dst + o, z);
}

/** dst: chunks of 4 keys, each 8 dims x 4 keys (128 bytes), zero past n keys and past hd dims. */
function packChunks(dst: usize, src: usize, stride: usize, n: i32, nPad: i32, hd: i32): void {
  zero(dst, <usize>nPad << 5);
  for (let j = 0; j < n; j++) {
    const d = dst + (<usize>(j >> 2) << 7) + (<usize>(j & 3) << 2), s = src + <usize>j * stride;
    for (let c = 0; c < hd; c++) store<f32>(d + (<usize>c << 4), load<f32>(s + (<usize>c << 2)));
  }
}

/** dst: rows of 8 floats (32 bytes), zero past n rows and past hd. */
function packRows(dst: usize, src: usize, stride: usize, n: i32, nPad: i32, hd: i32): void {
  zero(dst, <usize>nPad << 5);
  for (let j = 0; j < n; j++) copyFloats(dst + (<usize>j << 5), src + <usize>j * stride, hd);
}

/** The first hd dims of n keys in chunks (packChunks' layout, src) into rows at stride bytes (dst). */
function unpackChunks(dst: usize, stride: usize, src: usize, n: i32, hd: i32): void {
  for (let j = 0; j < n; j++) {
    const s = src + (<usize>(j >> 2) << 7) + (<usize>(j & 3) << 2), d = dst + <usize>j * stride;
    for (let c = 0; c < hd; c++) store<f32>(d + (<usize>c << 2), load<f32>(s + (<usize>c << 4)));
  }
}

/** 4 query rows (row stride bytes) into 4 rows of 8 floats; rows past nr are zero. */
function packQuery4(dst: usize, src: usize, stride: usize, nr: i32, hd: i32): void {
  zero(dst, 128);
  for (let r = 0; r < nr; r++) copyFloats(dst + (<usize>r << 5), src + <usize>r * stride, hd);
}

/** Stores the first hd lanes of [a, b] (8 floats) at dst. */
@inline function storeRow(dst: usize, a: v128, b: v128, hd: i32, tmp: usize): void {
  if (hd == 8) {
    v128.store(dst, a);
    v128.store(dst, b, 16);
  } else {
    v128.store(tmp, a);
    v128.store(tmp, b, 16);
    copyFloats(dst, tmp, hd);
  }
}

/** The 4 dot products of a row of 8 (x) with the 4 keys of a chunk (kc). */
@inline function dot8(x: usize, kc: usize): v128 {
  let s = f32x4.mul(v128.load32_splat(x), v128.load(kc));
  let t = f32x4.mul(v128.load32_splat(x, 4), v128.load(kc, 16));
  s = madd(v128.load32_splat(x, 8), v128.load(kc, 32), s);
  t = madd(v128.load32_splat(x, 12), v128.load(kc, 48), t);
  s = madd(v128.load32_splat(x, 16), v128.load(kc, 64), s);
  t = madd(v128.load32_splat(x, 20), v128.load(kc, 80), t);
  s = madd(v128.load32_splat(x, 24), v128.load(kc, 96), s);
  t = madd(v128.load32_splat(x, 28), v128.load(kc, 112), t);
  return f32x4.add(s, t);
}

/** Chunk row c of dst (4 keys) += x0[c] A0 + x1[c] A1 + x2[c] A2 + x3[c] A3 (x: 4 rows of 8). */
@inline function accRow(dst: usize, x: usize, c: usize, A0: v128, A1: v128, A2: v128, A3: v128): void {
  const d = dst + (c << 4), xc = x + (c << 2);
  v128.store(d, f32x4.add(v128.load(d), f32x4.add(madd(v128.load32_splat(xc, 32), A1, f32x4.mul(v128.load32_splat(xc), A0)),
    madd(v128.load32_splat(xc, 96), A3, f32x4.mul(v128.load32_splat(xc, 64), A2)))));
}

/** A chunk of 4 keys (dst, 8 dims x 4 keys) += sum_r x_r (x) A_r: x 4 rows of 8, A_r 4 keys. */
@inline function accChunk(dst: usize, x: usize, A0: v128, A1: v128, A2: v128, A3: v128): void {
  accRow(dst, x, 0, A0, A1, A2, A3); accRow(dst, x, 1, A0, A1, A2, A3);
  accRow(dst, x, 2, A0, A1, A2, A3); accRow(dst, x, 3, A0, A1, A2, A3);
  accRow(dst, x, 4, A0, A1, A2, A3); accRow(dst, x, 5, A0, A1, A2, A3);
  accRow(dst, x, 6, A0, A1, A2, A3); accRow(dst, x, 7, A0, A1, A2, A3);
}

@inline function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Lanes j0 + 0..3 < nk: all ones, else zero. */
@inline function visibleLanes(j0: i32, nk: i32): v128 {
  return i32x4.lt_s(i32x4.add(i32x4.splat(j0), i32x4(0, 1, 2, 3)), i32x4.splat(nk));
}

// ---- forward ----

/**
 * Units: ROWS query rows of one (b, kv head), with all the query heads of its group; the unit
 * order puts the kv heads of one block of rows next to each other, so the threads' round-robin
 * shares out the rows of each batch row evenly.
 * Scratch: kt (keys, chunked) and vp (values, rows of 8) for the keys the unit's rows see,
 * sc (4 rows of scores, then of p), qs (4 query rows of 8), tmp.
 */
export function forwardSmallHd(out: usize, lse: usize, q: usize, k: usize, v: usize, keyLen: usize,
  B: i32, Tq: i32, Tk: i32, Hq: i32, Hkv: i32, hd: i32, qPos0: i32, scale: f32, skipPad: i32,
  slice: usize, tid: i32, nthreads: i32): void {
  const group = Hq / Hkv;
  const chunks = (Tq + ROWS - 1) / ROWS;
  const units = B * chunks * Hkv;
  const kvStride = <usize>(Hkv * hd) << 2;
  const qStride = <usize>(Hq * hd) << 2;
  for (let u = tid; u < units; u += nthreads) {
    const g = u % Hkv, bc = u / Hkv, ch = bc % chunks, b = bc / chunks;
    const i0 = ch * ROWS, i1 = min(Tq, i0 + ROWS);
    const qEnd = queryEnd(keyLen, b, Tq, Tk, qPos0, skipPad);
    const nkMax = i0 < qEnd ? visibleKeys(keyLen, b, min(i1, qEnd) - 1, Tk, qPos0) : 0;
    const nkPad = pad4(nkMax);
    const kt = slice, vp = kt + (<usize>nkPad << 5), sc = vp + (<usize>nkPad << 5);
    const qs = sc + (<usize>nkPad << 4), tmp = qs + 128;
    const kvOff = (<usize>(b * Tk * Hkv + g) * <usize>hd) << 2;
    packChunks(kt, k + kvOff, kvStride, nkMax, nkPad, hd);
    packRows(vp, v + kvOff, kvStride, nkMax, nkPad, hd);
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let i = i0; i < i1; i += 4) {
        const nr = min(4, i1 - i);
        const qOff = (<usize>((b * Tq + i) * Hq + h) * <usize>hd) << 2;
        const nk0 = i < qEnd ? visibleKeys(keyLen, b, i, Tk, qPos0) : 0;
        const nk1 = i + 1 < qEnd && nr > 1 ? visibleKeys(keyLen, b, i + 1, Tk, qPos0) : 0;
        const nk2 = i + 2 < qEnd && nr > 2 ? visibleKeys(keyLen, b, i + 2, Tk, qPos0) : 0;
        const nk3 = i + 3 < qEnd && nr > 3 ? visibleKeys(keyLen, b, i + 3, Tk, qPos0) : 0;
        packQuery4(qs, q + qOff, qStride, nr, hd);
        forwardBlock(out + qOff, qStride, lse + (<usize>((b * Hq + h) * Tq + i) << 2), nr, nk0, nk1, nk2, nk3,
          kt, vp, sc, nkPad, qs, tmp, hd, scale);
      }
    }
  }
}

/** 4 query rows (nr of them real) against their nk0..nk3 visible keys. */
function forwardBlock(out: usize, qStride: usize, lsePtr: usize, nr: i32, nk0: i32, nk1: i32, nk2: i32, nk3: i32,
  kt: usize, vp: usize, sc: usize, nkPad: i32, qs: usize, tmp: usize, hd: i32, scale: f32): void {
  const nkB = max(max(nk0, nk1), max(nk2, nk3));
  const scale4 = f32x4.splat(scale), minusInf = f32x4.splat(-Infinity);
  const rowBytes = <usize>nkPad << 2;
  const sc0 = sc, sc1 = sc + rowBytes, sc2 = sc + 2 * rowBytes, sc3 = sc + 3 * rowBytes;
  // Pass 1: scaled scores (-inf past a row's visible keys) and their running max per lane.
  // The max starts at -1e30, not -inf: a row without keys then gets p = exp(-inf) = 0, not NaN.
  let M0 = f32x4.splat(-1e30), M1 = M0, M2 = M0, M3 = M0;
  // chunks that every row sees whole need no mask
  const nkMin = min(min(nk0, nk1), min(nk2, nk3)) & ~3;
  let j = 0;
  for (; j < nkMin; j += 4) {
    const kc = kt + (<usize>j << 5), o = <usize>j << 2;
    const S0 = f32x4.mul(dot8(qs, kc), scale4), S1 = f32x4.mul(dot8(qs + 32, kc), scale4);
    const S2 = f32x4.mul(dot8(qs + 64, kc), scale4), S3 = f32x4.mul(dot8(qs + 96, kc), scale4);
    v128.store(sc0 + o, S0); v128.store(sc1 + o, S1); v128.store(sc2 + o, S2); v128.store(sc3 + o, S3);
    M0 = f32x4.max(M0, S0); M1 = f32x4.max(M1, S1); M2 = f32x4.max(M2, S2); M3 = f32x4.max(M3, S3);
  }
  for (; j < nkB; j += 4) {
    const kc = kt + (<usize>j << 5), o = <usize>j << 2;
    const S0 = v128.bitselect(f32x4.mul(dot8(qs, kc), scale4), minusInf, visibleLanes(j, nk0));
    const S1 = v128.bitselect(f32x4.mul(dot8(qs + 32, kc), scale4), minusInf, visibleLanes(j, nk1));
    const S2 = v128.bitselect(f32x4.mul(dot8(qs + 64, kc), scale4), minusInf, visibleLanes(j, nk2));
    const S3 = v128.bitselect(f32x4.mul(dot8(qs + 96, kc), scale4), minusInf, visibleLanes(j, nk3));
    v128.store(sc0 + o, S0); v128.store(sc1 + o, S1); v128.store(sc2 + o, S2); v128.store(sc3 + o, S3);
    M0 = f32x4.max(M0, S0); M1 = f32x4.max(M1, S1); M2 = f32x4.max(M2, S2); M3 = f32x4.max(M3, S3);
  }
  const m0 = hmax(M0), m1 = hmax(M1), m2 = hmax(M2), m3 = hmax(M3);
  // Pass 2: p = exp(s - m) in place, and its sum per lane.
  const m0v = f32x4.splat(m0), m1v = f32x4.splat(m1), m2v = f32x4.splat(m2), m3v = f32x4.splat(m3);
  let L0 = f32x4.splat(0), L1 = L0, L2 = L0, L3 = L0;
  for (let j = 0; j < nkB; j += 4) {
    const o = <usize>j << 2;
    const P0 = exp4(f32x4.sub(v128.load(sc0 + o), m0v)), P1 = exp4(f32x4.sub(v128.load(sc1 + o), m1v));
    const P2 = exp4(f32x4.sub(v128.load(sc2 + o), m2v)), P3 = exp4(f32x4.sub(v128.load(sc3 + o), m3v));
    v128.store(sc0 + o, P0); v128.store(sc1 + o, P1); v128.store(sc2 + o, P2); v128.store(sc3 + o, P3);
    L0 = f32x4.add(L0, P0); L1 = f32x4.add(L1, P1); L2 = f32x4.add(L2, P2); L3 = f32x4.add(L3, P3);
  }
  // Pass 3: sum_j p_j v_j, a value row (8 floats) per key and a broadcast p per row.
  let A0 = f32x4.splat(0), B0 = A0, A1 = A0, B1 = A0, A2 = A0, B2 = A0, A3 = A0, B3 = A0;
  for (let j = 0; j < nkB; j++) {
    const vj = vp + (<usize>j << 5), o = <usize>j << 2;
    const va = v128.load(vj), vb = v128.load(vj, 16);
    const p0 = v128.load32_splat(sc0 + o), p1 = v128.load32_splat(sc1 + o);
    const p2 = v128.load32_splat(sc2 + o), p3 = v128.load32_splat(sc3 + o);
    A0 = madd(p0, va, A0); B0 = madd(p0, vb, B0);
    A1 = madd(p1, va, A1); B1 = madd(p1, vb, B1);
    A2 = madd(p2, va, A2); B2 = madd(p2, vb, B2);
    A3 = madd(p3, va, A3); B3 = madd(p3, vb, B3);
  }
  finishRow(out, lsePtr, nk0, m0, hsum(L0), A0, B0, hd, tmp);
  if (nr > 1) finishRow(out + qStride, lsePtr + 4, nk1, m1, hsum(L1), A1, B1, hd, tmp);
  if (nr > 2) finishRow(out + 2 * qStride, lsePtr + 8, nk2, m2, hsum(L2), A2, B2, hd, tmp);
  if (nr > 3) finishRow(out + 3 * qStride, lsePtr + 12, nk3, m3, hsum(L3), A3, B3, hd, tmp);
}

/** out = acc / l and lse = m + log l; a row without keys gets out = 0 and lse = -inf. */
@inline function finishRow(orow: usize, lsePtr: usize, nk: i32, m: f32, l: f32, a: v128, b: v128, hd: i32, tmp: usize): void {
  if (nk == 0) {
    for (let c = 0; c < hd; c++) store<f32>(orow + (<usize>c << 2), 0);
    store<f32>(lsePtr, -Infinity);
    return;
  }
  const inv = f32x4.splat(1.0 / l);
  storeRow(orow, f32x4.mul(a, inv), f32x4.mul(b, inv), hd, tmp);
  store<f32>(lsePtr, m + Mathf.log(l));
}

// ---- backward ----

/**
 * Units: (b, kv head), as in the general path: a unit owns dk/dv of its kv head and dq of its
 * query heads. Scratch: kt, vt (keys and values, chunked), kp (keys, rows of 8), dkp, dvp (the
 * unit's dk, dv, chunked like kt, copied out at the end), qs, os (4 query and dout rows of 8),
 * db (ds of the current 4 rows x 4 keys), tmp.
 */
export function backwardSmallHd(dq: usize, dk: usize, dv: usize, dout: usize, q: usize, k: usize, v: usize,
  out: usize, lse: usize, keyLen: usize, B: i32, Tq: i32, Tk: i32, Hq: i32, Hkv: i32, hd: i32, qPos0: i32, scale: f32,
  skipPad: i32, slice: usize, tid: i32, nthreads: i32): void {
  const group = Hq / Hkv;
  const units = B * Hkv;
  const kvStride = <usize>(Hkv * hd) << 2;
  const qStride = <usize>(Hq * hd) << 2;
  for (let u = tid; u < units; u += nthreads) {
    const b = u / Hkv, g = u % Hkv;
    const kvOff = (<usize>(b * Tk * Hkv + g) * <usize>hd) << 2;
    // padding query rows (skipPad) keep dq = 0 and add nothing; the blocks below write dq rows
    // i < qEnd (unless no key is visible at all) and the copies at the end dk, dv rows j < nkMax:
    // zero the rest
    const qEnd = queryEnd(keyLen, b, Tq, Tk, qPos0, skipPad);
    const nkMax = qEnd > 0 ? visibleKeys(keyLen, b, qEnd - 1, Tk, qPos0) : 0;
    const dqEnd = nkMax > 0 ? qEnd : 0;
    for (let j = nkMax; j < Tk; j++) {
      const o = kvOff + <usize>j * kvStride;
      for (let c = 0; c < hd; c++) { store<f32>(dk + o + (<usize>c << 2), 0); store<f32>(dv + o + (<usize>c << 2), 0); }
    }
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let i = dqEnd; i < Tq; i++) {
        const o = (<usize>((b * Tq + i) * Hq + h) * <usize>hd) << 2;
        for (let c = 0; c < hd; c++) store<f32>(dq + o + (<usize>c << 2), 0);
      }
    }
    if (nkMax == 0) continue;
    const nkPad = pad4(nkMax), bytes = <usize>nkPad << 5;
    const kt = slice, vt = kt + bytes, kp = vt + bytes, dkp = kp + bytes, dvp = dkp + bytes;
    const qs = dvp + bytes, os = qs + 128, db = os + 128, tmp = db + 64;
    packChunks(kt, k + kvOff, kvStride, nkMax, nkPad, hd);
    packChunks(vt, v + kvOff, kvStride, nkMax, nkPad, hd);
    packRows(kp, k + kvOff, kvStride, nkMax, nkPad, hd);
    zero(dkp, bytes << 1); // dkp and dvp
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let i = 0; i < qEnd; i += 4) {
        const nr = min(4, qEnd - i);
        const qOff = (<usize>((b * Tq + i) * Hq + h) * <usize>hd) << 2;
        packQuery4(qs, q + qOff, qStride, nr, hd);
        packQuery4(os, dout + qOff, qStride, nr, hd);
        backwardBlock(dq + qOff, out + qOff, dout + qOff, qStride, lse + (<usize>((b * Hq + h) * Tq + i) << 2), nr,
          nr > 0 ? visibleKeys(keyLen, b, i, Tk, qPos0) : 0, nr > 1 ? visibleKeys(keyLen, b, i + 1, Tk, qPos0) : 0,
          nr > 2 ? visibleKeys(keyLen, b, i + 2, Tk, qPos0) : 0, nr > 3 ? visibleKeys(keyLen, b, i + 3, Tk, qPos0) : 0,
          kt, vt, kp, dkp, dvp, qs, os, db, tmp, hd, scale);
      }
    }
    unpackChunks(dk + kvOff, kvStride, dkp, nkMax, hd);
    unpackChunks(dv + kvOff, kvStride, dvp, nkMax, hd);
  }
}

/** D = dout . out of a row (dout in the scratch row of 8, out in place). */
@inline function rowDot(os: usize, orow: usize, hd: i32): f32 {
  let s: f32 = 0;
  for (let c = 0; c < hd; c++) s += load<f32>(os + (<usize>c << 2)) * load<f32>(orow + (<usize>c << 2));
  return s;
}

/**
 * 4 query rows (nr real) of one head against their visible keys, 4 keys at a time:
 *   p = exp(s scale - lse), ds = p (dout . v - D) scale (4 keys per vector, masked past nk);
 *   dv_j += sum_r p_rj dout_r, dk_j += sum_r ds_rj q_r, 4 keys in the lanes of a chunk row;
 *   dq_r += sum_j ds_rj k_j, a broadcast ds per key, in registers until the end.
 */
function backwardBlock(dq: usize, out: usize, dout: usize, qStride: usize, lsePtr: usize, nr: i32,
  nk0: i32, nk1: i32, nk2: i32, nk3: i32, kt: usize, vt: usize, kp: usize, dkp: usize, dvp: usize,
  qs: usize, os: usize, db: usize, tmp: usize, hd: i32, scale: f32): void {
  const nkB = max(max(nk0, nk1), max(nk2, nk3));
  const scale4 = f32x4.splat(scale);
  const L0 = f32x4.splat(nk0 > 0 ? load<f32>(lsePtr) : 0), L1 = f32x4.splat(nk1 > 0 ? load<f32>(lsePtr, 4) : 0);
  const L2 = f32x4.splat(nk2 > 0 ? load<f32>(lsePtr, 8) : 0), L3 = f32x4.splat(nk3 > 0 ? load<f32>(lsePtr, 12) : 0);
  const D0 = f32x4.splat(nk0 > 0 ? rowDot(os, out, hd) : 0), D1 = f32x4.splat(nk1 > 0 ? rowDot(os + 32, out + qStride, hd) : 0);
  const D2 = f32x4.splat(nk2 > 0 ? rowDot(os + 64, out + 2 * qStride, hd) : 0);
  const D3 = f32x4.splat(nk3 > 0 ? rowDot(os + 96, out + 3 * qStride, hd) : 0);
  let GA0 = f32x4.splat(0), GB0 = GA0, GA1 = GA0, GB1 = GA0, GA2 = GA0, GB2 = GA0, GA3 = GA0, GB3 = GA0;
  for (let j0 = 0; j0 < nkB; j0 += 4) {
    const kc = kt + (<usize>j0 << 5), vc = vt + (<usize>j0 << 5);
    const P0 = v128.and(exp4(f32x4.sub(f32x4.mul(dot8(qs, kc), scale4), L0)), visibleLanes(j0, nk0));
    const P1 = v128.and(exp4(f32x4.sub(f32x4.mul(dot8(qs + 32, kc), scale4), L1)), visibleLanes(j0, nk1));
    const P2 = v128.and(exp4(f32x4.sub(f32x4.mul(dot8(qs + 64, kc), scale4), L2)), visibleLanes(j0, nk2));
    const P3 = v128.and(exp4(f32x4.sub(f32x4.mul(dot8(qs + 96, kc), scale4), L3)), visibleLanes(j0, nk3));
    const DS0 = f32x4.mul(f32x4.mul(P0, f32x4.sub(dot8(os, vc), D0)), scale4);
    const DS1 = f32x4.mul(f32x4.mul(P1, f32x4.sub(dot8(os + 32, vc), D1)), scale4);
    const DS2 = f32x4.mul(f32x4.mul(P2, f32x4.sub(dot8(os + 64, vc), D2)), scale4);
    const DS3 = f32x4.mul(f32x4.mul(P3, f32x4.sub(dot8(os + 96, vc), D3)), scale4);
    // dv, dk of the chunk's 4 keys, in the lanes: dv += sum_r dout_r p_r, dk += sum_r q_r ds_r
    accChunk(dvp + (<usize>j0 << 5), os, P0, P1, P2, P3);
    accChunk(dkp + (<usize>j0 << 5), qs, DS0, DS1, DS2, DS3);
    v128.store(db, DS0); v128.store(db, DS1, 16); v128.store(db, DS2, 32); v128.store(db, DS3, 48);
    const jEnd = min(4, nkB - j0);
    for (let t = 0; t < jEnd; t++) {
      const to = <usize>t << 2, kj = kp + (<usize>(j0 + t) << 5);
      const d0 = v128.load32_splat(db + to), d1 = v128.load32_splat(db + to, 16);
      const d2 = v128.load32_splat(db + to, 32), d3 = v128.load32_splat(db + to, 48);
      const ka = v128.load(kj), kb = v128.load(kj, 16);
      GA0 = madd(d0, ka, GA0); GB0 = madd(d0, kb, GB0);
      GA1 = madd(d1, ka, GA1); GB1 = madd(d1, kb, GB1);
      GA2 = madd(d2, ka, GA2); GB2 = madd(d2, kb, GB2);
      GA3 = madd(d3, ka, GA3); GB3 = madd(d3, kb, GB3);
    }
  }
  storeRow(dq, GA0, GB0, hd, tmp);
  if (nr > 1) storeRow(dq + qStride, GA1, GB1, hd, tmp);
  if (nr > 2) storeRow(dq + 2 * qStride, GA2, GB2, hd, tmp);
  if (nr > 3) storeRow(dq + 3 * qStride, GA3, GB3, hd, tmp);
}
