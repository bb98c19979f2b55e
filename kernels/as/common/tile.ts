// The broadcast register tiles of matmul (its broadcast form, kernels/as/matmul.ts) and LoRA
// (kernels/as/lora/: forward Y, backward dU and dX, dB).
// A tile holds out[i][c] for 4 (or 1) rows i and 8 (or 4) columns c, each the sum over k < n, in
// order, of g_i[k] * b_k[c] (madd): g_i[k] is the f32 at pg + i*ldg + k*stepG, broadcast, and b_k
// the vector(s) at pb + k*ldb. Each splat of g serves every vector of its row. LoRA's row
// kernels read g along a row (stepG 4), dB's sums down a column, matmul along op(A)'s k. Then
// one epilogue writes row i at po + i*ldo:
//   SCALE_ADD    po = scale acc + po   (rounded as matmul's epilogue: scale acc, then the add);
//                `lanes` is the number of columns left in the row from the tile's first one
//                (>= 4 per vector: all), so a short last vector touches only the row's lanes
//   SCALE_STORE  po = scale acc
//   MASK_ADD     po = po + acc * mask  (mask at pm + i*ldo, skipped when hasMask is false)
//   ALPHA_BETA   po = alpha acc + beta po, as madd (alpha: s4's lanes; beta 0: po is not read)
// The mode is a constant at every call site, so each inlined copy keeps one epilogue.
import { madd } from './madd';

export const SCALE_ADD = 0, SCALE_STORE = 1, MASK_ADD = 2, ALPHA_BETA = 3;

@inline function finish(mode: i32, p: usize, acc: v128, s4: v128, lanes: i32, hasMask: bool, pm: usize, beta: f32): void {
  if (mode == SCALE_ADD) scaleAdd(p, acc, s4, lanes);
  else if (mode == SCALE_STORE) v128.store(p, f32x4.mul(s4, acc));
  else if (mode == MASK_ADD) addVec(p, hasMask ? f32x4.mul(acc, v128.load(pm)) : acc);
  else {
    let y = f32x4.mul(s4, acc);
    if (beta != 0) y = madd(f32x4.splat(beta), v128.load(p), y);
    v128.store(p, y);
  }
}

/** 4 rows x 8 columns. */
@inline export function tile4x8(mode: i32, pg: usize, ldg: usize, stepG: usize, pb: usize, ldb: usize, n: i32,
  po: usize, ldo: usize, s4: v128, lanes: i32, hasMask: bool, pm: usize, beta: f32 = 0): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  for (let k = 0; k < n; k++) {
    const b0 = v128.load(pb), b1 = v128.load(pb, 16);
    let g = v128.load32_splat(pg);
    a00 = madd(g, b0, a00); a01 = madd(g, b1, a01);
    g = v128.load32_splat(pg + ldg);
    a10 = madd(g, b0, a10); a11 = madd(g, b1, a11);
    g = v128.load32_splat(pg + 2 * ldg);
    a20 = madd(g, b0, a20); a21 = madd(g, b1, a21);
    g = v128.load32_splat(pg + 3 * ldg);
    a30 = madd(g, b0, a30); a31 = madd(g, b1, a31);
    pb += ldb; pg += stepG;
  }
  finish(mode, po, a00, s4, lanes, hasMask, pm, beta); finish(mode, po + 16, a01, s4, lanes - 4, hasMask, pm + 16, beta);
  finish(mode, po + ldo, a10, s4, lanes, hasMask, pm + ldo, beta); finish(mode, po + ldo + 16, a11, s4, lanes - 4, hasMask, pm + ldo + 16, beta);
  finish(mode, po + 2 * ldo, a20, s4, lanes, hasMask, pm + 2 * ldo, beta); finish(mode, po + 2 * ldo + 16, a21, s4, lanes - 4, hasMask, pm + 2 * ldo + 16, beta);
  finish(mode, po + 3 * ldo, a30, s4, lanes, hasMask, pm + 3 * ldo, beta); finish(mode, po + 3 * ldo + 16, a31, s4, lanes - 4, hasMask, pm + 3 * ldo + 16, beta);
}

/** 4 rows x 4 columns. */
@inline export function tile4x4(mode: i32, pg: usize, ldg: usize, stepG: usize, pb: usize, ldb: usize, n: i32,
  po: usize, ldo: usize, s4: v128, lanes: i32, hasMask: bool, pm: usize, beta: f32 = 0): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let k = 0; k < n; k++) {
    const b0 = v128.load(pb);
    a0 = madd(v128.load32_splat(pg), b0, a0);
    a1 = madd(v128.load32_splat(pg + ldg), b0, a1);
    a2 = madd(v128.load32_splat(pg + 2 * ldg), b0, a2);
    a3 = madd(v128.load32_splat(pg + 3 * ldg), b0, a3);
    pb += ldb; pg += stepG;
  }
  finish(mode, po, a0, s4, lanes, hasMask, pm, beta); finish(mode, po + ldo, a1, s4, lanes, hasMask, pm + ldo, beta);
  finish(mode, po + 2 * ldo, a2, s4, lanes, hasMask, pm + 2 * ldo, beta); finish(mode, po + 3 * ldo, a3, s4, lanes, hasMask, pm + 3 * ldo, beta);
}

/** 1 row x 4 columns. */
@inline export function tile1x4(mode: i32, pg: usize, stepG: usize, pb: usize, ldb: usize, n: i32,
  po: usize, s4: v128, lanes: i32, hasMask: bool, pm: usize, beta: f32 = 0): void {
  let a0 = f32x4.splat(0);
  for (let k = 0; k < n; k++) {
    a0 = madd(v128.load32_splat(pg), v128.load(pb), a0);
    pb += ldb; pg += stepG;
  }
  finish(mode, po, a0, s4, lanes, hasMask, pm, beta);
}

/**
 * p[0..n) += scale acc, n = the lanes left in the row (>= 4: all). Rounded as matmul's epilogue
 * (alpha C: scale acc, then + y), as the matmul this replaced did.
 */
@inline function scaleAdd(p: usize, acc: v128, s4: v128, n: i32): void {
  if (n >= 4) { v128.store(p, f32x4.add(f32x4.mul(s4, acc), v128.load(p))); return; }
  // a short last vector: load and store only the lanes inside the row
  let c = f32x4.splat(0);
  c = f32x4.replace_lane(c, 0, load<f32>(p));
  if (n > 1) c = f32x4.replace_lane(c, 1, load<f32>(p, 4));
  if (n > 2) c = f32x4.replace_lane(c, 2, load<f32>(p, 8));
  const v = f32x4.add(f32x4.mul(s4, acc), c);
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** p += v (4 lanes). */
@inline export function addVec(p: usize, v: v128): void {
  v128.store(p, f32x4.add(v128.load(p), v));
}

/** The sum of the 4 lanes, in lane order. */
@inline export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}
