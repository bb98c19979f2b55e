// matmul: C[M,N] = alpha * op(A) op(B) + beta * C (engine/backend.ts). WGSL twin: kernels/wgsl/matmul.wgsl.
// transA: A is stored [K, M]; transB: B is stored [N, K] (nn.Linear weight layout).
//
// Two paths:
// - Packed (Goto/BLIS style), for every layout once the product is large enough (N >= 128 and
//   M >= 12): blocks of op(B) (KC x NC) and op(A) (MC x KC) are copied into
//   zero-padded panels in the calling thread's scratch (B [N,K] transposed while copying), then
//   6 x 8 tiles of C accumulate in 12 v128 registers: per k, 2 loads of B and 6 broadcasts of A
//   for 12 fused multiply-adds, enough independent chains to keep both FMA pipes busy (the 4 x 8
//   tile it replaces ran at ~80% of that: 45-48 vs 50-53 GFLOP/s on one core, bench/matmul.ts).
//   Packing also makes the access pattern independent of the operands' strides, so rows of B at a
//   power-of-two stride no longer collide in L1 (the old limit at N = 1024, 2048, ...).
// - In place, for small products where packing costs more than it saves: the broadcast form for
//   B stored [K,N] (a 4 x 8 tile in 8 accumulators, op(A) broadcast at its own strides) and the
//   dot form for A [M,K], B [N,K] (2 x 4 tiles of partial dot products along k, reduced with
//   shuffles); transA && transB and ragged edges fall back to a scalar loop.
// Products accumulate through madd (common/madd.ts): fused multiply-add in the FMA build.
// K is blocked so that each block of B stays in L2 while the few rows of A of a tile stay in L1.
// Only the first K block applies beta; beta == 0 never reads C (it may hold NaN garbage).
//
// The scratch is the backend's per-thread scratch (common/scratch.ts), passed as a pointer: 0
// means none, and then only the in-place path runs.
//
// Threads split M in whole row tiles or N in whole column tiles (the longer one, in tiles); each
// thread writes a disjoint block of C. Every element of C gets the same operations in the same
// order whatever the split (the path depends on the shape only; tiles, k blocks and ragged edges
// fall on fixed indices), so the result does not depend on the thread count.
import { chunkStart, chunkEnd } from './common/threads';
import { madd } from './common/madd';
import { tile1x4, tile4x8, ALPHA_BETA } from './common/tile';
import { SCRATCH_SLICE_BYTES } from './common/scratch';

// Block sizes (k depth x columns of C) of the in-place forms. Small enough that rows of B at a
// power-of-two stride, which all map to a few cache sets, still fit in L2's ways.
const KC_DOT = 256;
const NC_DOT = 128;
const KC_BCAST = 64;
const NC_BCAST = 256;
const TILE_M = 4; // rows of a tile (broadcast form; the dot form uses half)
const TILE_N = 8; // columns of a tile (broadcast form; the dot form uses half)
// The packed path: panels of MC x KC of op(A) and KC x NC of op(B), 6 x 8 tiles.
const PACK_KC = 256;
const PACK_MC = 96; // a multiple of PACK_MR
const PACK_NC = 512;
const PACK_MR = 6;
const PACK_NR = 8;
const PACK_A_BYTES = PACK_MC * PACK_KC * 4;
const PACK_B_BYTES = PACK_KC * PACK_NC * 4;
const PACK_SLICE_BYTES = PACK_A_BYTES + PACK_B_BYTES + PACK_MR * PACK_NR * 4;

/** Bytes of scratch per thread (common/scratch.ts: the backend allocates threads x this, 64-byte aligned). */
export function scratch_bytes(): i32 {
  if (<usize>PACK_SLICE_BYTES > SCRATCH_SLICE_BYTES) unreachable(); // folded away while the panels fit
  return <i32>SCRATCH_SLICE_BYTES;
}

/** Whether a product is worth packing (bench/matmul.ts: the break-even shapes). */
@inline function packs(M: i32, N: i32, K: i32, transB: i32): bool {
  return M >= 12 && N >= 128;
}

export function matmul(c: usize, a: usize, b: usize, M: i32, N: i32, K: i32, transA: i32, transB: i32,
  alpha: f32, beta: f32, scratch: usize, tid: i32, nthreads: i32): void {
  if (M <= 0 || N <= 0) return;
  const packed = scratch != 0 && packs(M, N, K, transB);
  const tm = packed ? PACK_MR : TILE_M, tn = packed ? PACK_NR : TILE_N;
  let m0 = 0, m1 = M, n0 = 0, n1 = N;
  const mTiles = (M + tm - 1) / tm, nTiles = (N + tn - 1) / tn;
  if (packed ? mTiles >= nTiles || nTiles < nthreads : mTiles >= 2 * nthreads || mTiles >= nTiles) {
    m0 = min(chunkStart(mTiles, tid, nthreads) * tm, M);
    m1 = min(chunkEnd(mTiles, tid, nthreads) * tm, M);
  } else {
    n0 = min(chunkStart(nTiles, tid, nthreads) * tn, N);
    n1 = min(chunkEnd(nTiles, tid, nthreads) * tn, N);
  }
  if (m0 >= m1 || n0 >= n1) return;
  if (K <= 0) { scaleBlock(c, N, m0, m1, n0, n1, beta); return; }
  if (packed) {
    packedProduct(c, a, b, M, N, K, transA, transB, alpha, beta, scratch + <usize>tid * SCRATCH_SLICE_BYTES, m0, m1, n0, n1);
    return;
  }

  // Byte strides of op(A)[i,k] and op(B)[k,j] along i/k and k/j.
  const aRow: usize = transA ? 4 : <usize>K << 2, aK: usize = transA ? <usize>M << 2 : 4;
  const bK: usize = transB ? 4 : <usize>N << 2, bCol: usize = transB ? <usize>K << 2 : 4;
  const ldc = <usize>N << 2;

  const dotForm = transB && !transA;
  const KC = dotForm ? KC_DOT : KC_BCAST, NC = dotForm ? NC_DOT : NC_BCAST;
  for (let pc = 0; pc < K; pc += KC) {
    const kc = min(KC, K - pc);
    const betaK: f32 = pc == 0 ? beta : 1;
    const aK0 = a + <usize>pc * aK, bK0 = b + <usize>pc * bK;
    for (let jc = n0; jc < n1; jc += NC) {
      const jEnd = min(n1, jc + NC);
      if (dotForm) {
        dotBlock(c, ldc, aK0, aRow, bK0, bCol, kc, m0, m1, jc, jEnd, alpha, betaK);
      } else if (!transB) {
        broadcastBlock(c, ldc, aK0, aRow, aK, bK0, bK, kc, m0, m1, jc, jEnd, alpha, betaK);
      } else {
        scalarBlock(c, ldc, aK0, aRow, aK, bK0, bK, bCol, kc, m0, m1, jc, jEnd, alpha, betaK);
      }
    }
  }
}

/** C = beta * C over a block (K == 0: the product is empty). beta == 0 writes zeros without reading C. */
function scaleBlock(c: usize, N: i32, m0: i32, m1: i32, n0: i32, n1: i32, beta: f32): void {
  for (let i = m0; i < m1; i++) {
    const row = c + (<usize>i * <usize>N << 2);
    for (let j = n0; j < n1; j++) {
      const p = row + (<usize>j << 2);
      store<f32>(p, beta == 0 ? 0 : beta * load<f32>(p));
    }
  }
}

@inline function update(p: usize, v: f32, alpha: f32, beta: f32): void {
  const y = alpha * v;
  store<f32>(p, beta == 0 ? y : y + beta * load<f32>(p));
}

@inline function updateVec(p: usize, v: v128, alpha: f32, beta: f32): void {
  let y = f32x4.mul(f32x4.splat(alpha), v);
  if (beta != 0) y = madd(f32x4.splat(beta), v128.load(p), y);
  v128.store(p, y);
}

/** Any layout, element by element: ragged edges and transA && transB. */
function scalarBlock(c: usize, ldc: usize, a: usize, aRow: usize, aK: usize, b: usize, bK: usize, bCol: usize,
  kc: i32, i0: i32, i1: i32, j0: i32, j1: i32, alpha: f32, beta: f32): void {
  for (let i = i0; i < i1; i++) {
    const ai = a + <usize>i * aRow;
    for (let j = j0; j < j1; j++) {
      let pa = ai, pb = b + <usize>j * bCol;
      let s: f32 = 0;
      for (let k = 0; k < kc; k++) { s += load<f32>(pa) * load<f32>(pb); pa += aK; pb += bK; }
      update(c + <usize>i * ldc + (<usize>j << 2), s, alpha, beta);
    }
  }
}

/**
 * Broadcast form for B stored [K,N] (bCol = 4): 4 x 8 tiles (common/tile.ts, shared with LoRA).
 * op(A)[i,k] is at a + i*aRow + k*aK, so transA only changes the strides of the broadcasts.
 */
function broadcastBlock(c: usize, ldc: usize, a: usize, aRow: usize, aK: usize, b: usize, bK: usize,
  kc: i32, i0: i32, i1: i32, j0: i32, j1: i32, alpha: f32, beta: f32): void {
  const iFull = i0 + ((i1 - i0) & ~3), jFull = j0 + ((j1 - j0) & ~7);
  const alpha4 = f32x4.splat(alpha);
  for (let i = i0; i < iFull; i += 4) {
    const ai = a + <usize>i * aRow;
    const ci = c + <usize>i * ldc;
    for (let j = j0; j < jFull; j += 8) {
      tile4x8(ALPHA_BETA, ai, aRow, aK, b + (<usize>j << 2), bK, kc, ci + (<usize>j << 2), ldc, alpha4, 8, false, 0, beta);
    }
    if (jFull < j1) broadcastRowsNarrow(c, ldc, a, aRow, aK, b, bK, kc, i, i + 4, jFull, j1, alpha, beta);
  }
  if (iFull < i1) broadcastRowsNarrow(c, ldc, a, aRow, aK, b, bK, kc, iFull, i1, j0, j1, alpha, beta);
}

/** Edge rows/columns of the broadcast form: one row at a time, 4 columns per vector, then scalars. */
function broadcastRowsNarrow(c: usize, ldc: usize, a: usize, aRow: usize, aK: usize, b: usize, bK: usize,
  kc: i32, i0: i32, i1: i32, j0: i32, j1: i32, alpha: f32, beta: f32): void {
  const jVec = j0 + ((j1 - j0) & ~3);
  const alpha4 = f32x4.splat(alpha);
  for (let i = i0; i < i1; i++) {
    const ai = a + <usize>i * aRow;
    for (let j = j0; j < jVec; j += 4) {
      tile1x4(ALPHA_BETA, ai, aK, b + (<usize>j << 2), bK, kc, c + <usize>i * ldc + (<usize>j << 2), alpha4, 4, false, 0, beta);
    }
  }
  if (jVec < j1) scalarBlock(c, ldc, a, aRow, aK, b, bK, 4, kc, i0, i1, jVec, j1, alpha, beta);
}

/** [sum(x), sum(y), sum(z), sum(w)] */
@inline function hsum4(x: v128, y: v128, z: v128, w: v128): v128 {
  const xy = f32x4.add(i32x4.shuffle(x, y, 0, 4, 1, 5), i32x4.shuffle(x, y, 2, 6, 3, 7));
  const zw = f32x4.add(i32x4.shuffle(z, w, 0, 4, 1, 5), i32x4.shuffle(z, w, 2, 6, 3, 7));
  return f32x4.add(i32x4.shuffle(xy, zw, 0, 1, 4, 5), i32x4.shuffle(xy, zw, 2, 3, 6, 7));
}

/**
 * Dot form for A [M,K] and B [N,K] (aRow = K*4, bCol = K*4, both unit stride along k): 2 x 4
 * tiles of partial dot products, 4 k at a time; the k tail (kc mod 4) is added as scalars.
 */
function dotBlock(c: usize, ldc: usize, a: usize, aRow: usize, b: usize, bCol: usize, kc: i32,
  i0: i32, i1: i32, j0: i32, j1: i32, alpha: f32, beta: f32): void {
  const iFull = i0 + ((i1 - i0) & ~1), jFull = j0 + ((j1 - j0) & ~3);
  const kVec = kc & ~3;
  for (let i = i0; i < iFull; i += 2) {
    const a0 = a + <usize>i * aRow, a1 = a0 + aRow;
    for (let j = j0; j < jFull; j += 4) {
      const b0 = b + <usize>j * bCol, b1 = b0 + bCol, b2 = b1 + bCol, b3 = b2 + bCol;
      let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0), s03 = f32x4.splat(0);
      let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0), s13 = f32x4.splat(0);
      for (let o: usize = 0; o < <usize>kVec << 2; o += 16) {
        const x0 = v128.load(a0 + o), x1 = v128.load(a1 + o);
        let y = v128.load(b0 + o);
        s00 = madd(x0, y, s00); s10 = madd(x1, y, s10);
        y = v128.load(b1 + o);
        s01 = madd(x0, y, s01); s11 = madd(x1, y, s11);
        y = v128.load(b2 + o);
        s02 = madd(x0, y, s02); s12 = madd(x1, y, s12);
        y = v128.load(b3 + o);
        s03 = madd(x0, y, s03); s13 = madd(x1, y, s13);
      }
      let r0 = hsum4(s00, s01, s02, s03), r1 = hsum4(s10, s11, s12, s13);
      for (let k = kVec; k < kc; k++) {
        const o = <usize>k << 2;
        const x0 = v128.load32_splat(a0 + o), x1 = v128.load32_splat(a1 + o);
        const y = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(b0 + o)),
          1, load<f32>(b1 + o)), 2, load<f32>(b2 + o)), 3, load<f32>(b3 + o));
        r0 = madd(x0, y, r0); r1 = madd(x1, y, r1);
      }
      const p = c + <usize>i * ldc + (<usize>j << 2);
      updateVec(p, r0, alpha, beta);
      updateVec(p + ldc, r1, alpha, beta);
    }
    if (jFull < j1) dotRowsNarrow(c, ldc, a, aRow, b, bCol, kc, i, i + 2, jFull, j1, alpha, beta);
  }
  if (iFull < i1) dotRowsNarrow(c, ldc, a, aRow, b, bCol, kc, iFull, i1, j0, j1, alpha, beta);
}

/** Edge of the dot form: one output at a time, still vectorised along k. */
function dotRowsNarrow(c: usize, ldc: usize, a: usize, aRow: usize, b: usize, bCol: usize, kc: i32,
  i0: i32, i1: i32, j0: i32, j1: i32, alpha: f32, beta: f32): void {
  const kVec = kc & ~3;
  for (let i = i0; i < i1; i++) {
    const ai = a + <usize>i * aRow;
    for (let j = j0; j < j1; j++) {
      const bj = b + <usize>j * bCol;
      let s = f32x4.splat(0);
      for (let o: usize = 0; o < <usize>kVec << 2; o += 16) s = madd(v128.load(ai + o), v128.load(bj + o), s);
      let d = f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
      for (let k = kVec; k < kc; k++) d += load<f32>(ai + (<usize>k << 2)) * load<f32>(bj + (<usize>k << 2));
      update(c + <usize>i * ldc + (<usize>j << 2), d, alpha, beta);
    }
  }
}

// ---- packed path: Goto/BLIS-style panels in the calling thread's scratch ---------------------

/** C[m0:m1, n0:n1]: pack a KC x NC block of op(B), then MC x KC blocks of op(A), then 6 x 8 tiles. */
function packedProduct(c: usize, a: usize, b: usize, M: i32, N: i32, K: i32, transA: i32, transB: i32, alpha: f32, beta: f32,
  slice: usize, m0: i32, m1: i32, n0: i32, n1: i32): void {
  const ap = slice, bp = slice + PACK_A_BYTES, tile = bp + PACK_B_BYTES;
  const ldc = <usize>N << 2;
  for (let jc = n0; jc < n1; jc += PACK_NC) {
    const nc = min(PACK_NC, n1 - jc);
    for (let pc = 0; pc < K; pc += PACK_KC) {
      const kc = min(PACK_KC, K - pc);
      const betaK: f32 = pc == 0 ? beta : 1;
      if (transB) packBT(bp, b, K, pc, kc, jc, nc); else packB(bp, b, N, pc, kc, jc, nc);
      for (let ic = m0; ic < m1; ic += PACK_MC) {
        const mc = min(PACK_MC, m1 - ic);
        packA(ap, a, M, K, transA, pc, kc, ic, mc);
        for (let jr = 0; jr < nc; jr += PACK_NR) {
          const bPanel = bp + (<usize>(jr >> 3) * <usize>kc << 5);
          for (let ir = 0; ir < mc; ir += PACK_MR) {
            const aPanel = ap + <usize>(ir / PACK_MR) * <usize>kc * (PACK_MR * 4);
            const cTile = c + <usize>(ic + ir) * ldc + (<usize>(jc + jr) << 2);
            packedTile(aPanel, bPanel, kc, cTile, ldc, min(PACK_MR, mc - ir), min(PACK_NR, nc - jr), alpha, betaK, tile);
          }
        }
      }
    }
  }
}

/** Panel p of op(B)'s block, B stored [K,N]: columns jc + 8p.., as kc rows of 8 floats (zero-padded). */
function packB(bp: usize, b: usize, N: i32, pc: i32, kc: i32, jc: i32, nc: i32): void {
  const ld = <usize>N << 2;
  for (let jr = 0; jr < nc; jr += 8) {
    const cols = min(8, nc - jr);
    let dst = bp + (<usize>(jr >> 3) * <usize>kc << 5);
    let src = b + ((<usize>pc * <usize>N + <usize>(jc + jr)) << 2);
    for (let k = 0; k < kc; k++) {
      if (cols == 8) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
      } else {
        for (let j = 0; j < 8; j++) store<f32>(dst + (<usize>j << 2), j < cols ? load<f32>(src + (<usize>j << 2)) : 0);
      }
      dst += 32; src += ld;
    }
  }
}

/** The same panels for B stored [N,K] (op(B) = B^T): 8 rows of B transposed, 4 k at a time. */
function packBT(bp: usize, b: usize, K: i32, pc: i32, kc: i32, jc: i32, nc: i32): void {
  const ld = <usize>K << 2;
  for (let jr = 0; jr < nc; jr += 8) {
    const cols = min(8, nc - jr);
    const panel = bp + (<usize>(jr >> 3) * <usize>kc << 5);
    const src0 = b + <usize>(jc + jr) * ld + (<usize>pc << 2);
    let k = 0;
    if (cols == 8) {
      for (; k + 4 <= kc; k += 4) {
        const o = <usize>k << 2;
        const r0 = v128.load(src0 + o), r1 = v128.load(src0 + ld + o), r2 = v128.load(src0 + 2 * ld + o), r3 = v128.load(src0 + 3 * ld + o);
        const r4 = v128.load(src0 + 4 * ld + o), r5 = v128.load(src0 + 5 * ld + o), r6 = v128.load(src0 + 6 * ld + o), r7 = v128.load(src0 + 7 * ld + o);
        // two 4 x 4 transposes: columns 0..3 from r0..r3, 4..7 from r4..r7
        const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
        const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
        const u0 = v128.shuffle<f32>(r4, r5, 0, 4, 1, 5), u1 = v128.shuffle<f32>(r6, r7, 0, 4, 1, 5);
        const u2 = v128.shuffle<f32>(r4, r5, 2, 6, 3, 7), u3 = v128.shuffle<f32>(r6, r7, 2, 6, 3, 7);
        const dst = panel + (<usize>k << 5);
        v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5)); v128.store(dst, v128.shuffle<f32>(u0, u1, 0, 1, 4, 5), 16);
        v128.store(dst, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 32); v128.store(dst, v128.shuffle<f32>(u0, u1, 2, 3, 6, 7), 48);
        v128.store(dst, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 64); v128.store(dst, v128.shuffle<f32>(u2, u3, 0, 1, 4, 5), 80);
        v128.store(dst, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 96); v128.store(dst, v128.shuffle<f32>(u2, u3, 2, 3, 6, 7), 112);
      }
    }
    for (; k < kc; k++) {
      const dst = panel + (<usize>k << 5), src = src0 + (<usize>k << 2);
      for (let j = 0; j < 8; j++) store<f32>(dst + (<usize>j << 2), j < cols ? load<f32>(src + <usize>j * ld) : 0);
    }
  }
}

/** Panel p of op(A)'s block: rows ic + 6p.., as kc columns of 6 floats (zero-padded). */
function packA(ap: usize, a: usize, M: i32, K: i32, transA: i32, pc: i32, kc: i32, ic: i32, mc: i32): void {
  const aRow: usize = transA ? 4 : <usize>K << 2, aK: usize = transA ? <usize>M << 2 : 4;
  const stride: usize = PACK_MR * 4;
  for (let ir = 0; ir < mc; ir += PACK_MR) {
    const rows = min(PACK_MR, mc - ir);
    const panel = ap + <usize>(ir / PACK_MR) * <usize>kc * stride;
    const src0 = a + <usize>(ic + ir) * aRow + <usize>pc * aK;
    for (let i = 0; i < PACK_MR; i++) {
      let dst = panel + (<usize>i << 2), src = src0 + <usize>i * aRow;
      if (i < rows) {
        for (let k = 0; k < kc; k++) { store<f32>(dst, load<f32>(src)); dst += stride; src += aK; }
      } else {
        for (let k = 0; k < kc; k++) { store<f32>(dst, 0); dst += stride; }
      }
    }
  }
}

/** A 6 x 8 tile from packed panels: 12 accumulators; ragged tiles go through a small buffer. */
function packedTile(ap: usize, bp: usize, kc: i32, c: usize, ldc: usize, rows: i32, cols: i32,
  alpha: f32, beta: f32, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  let c50 = f32x4.splat(0), c51 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let x = v128.load32_splat(ap);
    c00 = madd(x, b0, c00); c01 = madd(x, b1, c01);
    x = v128.load32_splat(ap, 4);
    c10 = madd(x, b0, c10); c11 = madd(x, b1, c11);
    x = v128.load32_splat(ap, 8);
    c20 = madd(x, b0, c20); c21 = madd(x, b1, c21);
    x = v128.load32_splat(ap, 12);
    c30 = madd(x, b0, c30); c31 = madd(x, b1, c31);
    x = v128.load32_splat(ap, 16);
    c40 = madd(x, b0, c40); c41 = madd(x, b1, c41);
    x = v128.load32_splat(ap, 20);
    c50 = madd(x, b0, c50); c51 = madd(x, b1, c51);
    ap += 24; bp += 32;
  }
  if (rows == 6 && cols == 8) {
    updateVec(c, c00, alpha, beta); updateVec(c + 16, c01, alpha, beta);
    updateVec(c + ldc, c10, alpha, beta); updateVec(c + ldc + 16, c11, alpha, beta);
    updateVec(c + 2 * ldc, c20, alpha, beta); updateVec(c + 2 * ldc + 16, c21, alpha, beta);
    updateVec(c + 3 * ldc, c30, alpha, beta); updateVec(c + 3 * ldc + 16, c31, alpha, beta);
    updateVec(c + 4 * ldc, c40, alpha, beta); updateVec(c + 4 * ldc + 16, c41, alpha, beta);
    updateVec(c + 5 * ldc, c50, alpha, beta); updateVec(c + 5 * ldc + 16, c51, alpha, beta);
    return;
  }
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80);
  v128.store(tile, c30, 96); v128.store(tile, c31, 112);
  v128.store(tile, c40, 128); v128.store(tile, c41, 144);
  v128.store(tile, c50, 160); v128.store(tile, c51, 176);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) update(c + <usize>i * ldc + (<usize>j << 2), load<f32>(tile + (<usize>(i * 8 + j) << 2)), alpha, beta);
  }
}
