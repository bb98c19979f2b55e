// LoRA's forward on WASM, for lora_forward (kernels/as/lora.ts): U = (X ∘ mask) A^T, then
// Y += scale U B^T from the transposed copy of B the kernel makes.
import { madd } from '../common/madd';
import { hsum, tile1x4, tile4x4, tile4x8, SCALE_ADD } from '../common/tile';

/**
 * U rows t0..t1: U[t,j] = the dot product of the masked x row with row j of A: four lanes of
 * madd along in, summed across (hsum), then the last in % 4 terms one by one. Tiles of 2 rows x 4
 * rows of A (each A vector serves two rows); a row left over takes the same operations alone.
 */
export function forwardU(u: usize, x: usize, a: usize, mask: usize, t0: i32, t1: i32, inF: i32, r: i32): void {
  let t = t0;
  for (; t + 2 <= t1; t += 2) forwardU2(u, x, a, mask, t, inF, r);
  if (t < t1) forwardU1(u, x, a, mask, t, inF, r);
}

function forwardU2(u: usize, x: usize, a: usize, mask: usize, t: i32, inF: i32, r: i32): void {
  const ld = <usize>inF << 2;
  const xr = x + <usize>t * ld, mr = mask + <usize>t * ld;
  let j = 0;
  for (; j + 4 <= r; j += 4) {
    const a0 = a + <usize>j * ld, a1 = a0 + ld, a2 = a1 + ld, a3 = a2 + ld;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let q0 = f32x4.splat(0), q1 = f32x4.splat(0), q2 = f32x4.splat(0), q3 = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= inF; i += 4) {
      const o = <usize>i << 2;
      let xv = v128.load(xr + o), xw = v128.load(xr + ld + o);
      if (mask) { xv = f32x4.mul(xv, v128.load(mr + o)); xw = f32x4.mul(xw, v128.load(mr + ld + o)); }
      let av = v128.load(a0 + o);
      s0 = madd(xv, av, s0); q0 = madd(xw, av, q0);
      av = v128.load(a1 + o);
      s1 = madd(xv, av, s1); q1 = madd(xw, av, q1);
      av = v128.load(a2 + o);
      s2 = madd(xv, av, s2); q2 = madd(xw, av, q2);
      av = v128.load(a3 + o);
      s3 = madd(xv, av, s3); q3 = madd(xw, av, q3);
    }
    const ur = u + ((<usize>t * <usize>r + <usize>j) << 2);
    uStore4(ur, xr, mr, a0, ld, i, inF, mask, s0, s1, s2, s3);
    uStore4(ur + (<usize>r << 2), xr + ld, mr + ld, a0, ld, i, inF, mask, q0, q1, q2, q3);
  }
  for (; j < r; j++) {
    uRow1(u, xr, mr, a, mask, t, j, inF, r);
    uRow1(u, xr + ld, mr + ld, a, mask, t + 1, j, inF, r);
  }
}

function forwardU1(u: usize, x: usize, a: usize, mask: usize, t: i32, inF: i32, r: i32): void {
  const ld = <usize>inF << 2;
  const xr = x + <usize>t * ld, mr = mask + <usize>t * ld;
  let j = 0;
  for (; j + 4 <= r; j += 4) {
    const a0 = a + <usize>j * ld, a1 = a0 + ld, a2 = a1 + ld, a3 = a2 + ld;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= inF; i += 4) {
      const o = <usize>i << 2;
      let xv = v128.load(xr + o);
      if (mask) xv = f32x4.mul(xv, v128.load(mr + o));
      s0 = madd(xv, v128.load(a0 + o), s0);
      s1 = madd(xv, v128.load(a1 + o), s1);
      s2 = madd(xv, v128.load(a2 + o), s2);
      s3 = madd(xv, v128.load(a3 + o), s3);
    }
    uStore4(u + ((<usize>t * <usize>r + <usize>j) << 2), xr, mr, a0, ld, i, inF, mask, s0, s1, s2, s3);
  }
  for (; j < r; j++) uRow1(u, xr, mr, a, mask, t, j, inF, r);
}

/** U[t, j..j+4] from the four lane sums and the scalar tail from column i0 (rows of A from a0). */
@inline function uStore4(ur: usize, xr: usize, mr: usize, a0: usize, ld: usize, i0: i32, inF: i32, mask: usize,
  s0: v128, s1: v128, s2: v128, s3: v128): void {
  let d0 = hsum(s0), d1 = hsum(s1), d2 = hsum(s2), d3 = hsum(s3);
  for (let i = i0; i < inF; i++) {
    const o = <usize>i << 2;
    const xv = mask ? load<f32>(xr + o) * load<f32>(mr + o) : load<f32>(xr + o);
    d0 += xv * load<f32>(a0 + o); d1 += xv * load<f32>(a0 + ld + o);
    d2 += xv * load<f32>(a0 + 2 * ld + o); d3 += xv * load<f32>(a0 + 3 * ld + o);
  }
  store<f32>(ur, d0); store<f32>(ur, d1, 4); store<f32>(ur, d2, 8); store<f32>(ur, d3, 12);
}

/** U[t, j] alone (the last r % 4 rows of A). */
function uRow1(u: usize, xr: usize, mr: usize, a: usize, mask: usize, t: i32, j: i32, inF: i32, r: i32): void {
  const aj = a + <usize>j * (<usize>inF << 2);
  let s = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= inF; i += 4) {
    const o = <usize>i << 2;
    let xv = v128.load(xr + o);
    if (mask) xv = f32x4.mul(xv, v128.load(mr + o));
    s = madd(xv, v128.load(aj + o), s);
  }
  let d = hsum(s);
  for (; i < inF; i++) {
    const o = <usize>i << 2;
    const xv = mask ? load<f32>(xr + o) * load<f32>(mr + o) : load<f32>(xr + o);
    d += xv * load<f32>(aj + o);
  }
  store<f32>(u + ((<usize>t * <usize>r + <usize>j) << 2), d);
}


/**
 * Y[t, n0..n1) += scale U[t,:] Bt for rows t0..t1 (Bt [r, w], w = n1 - n0 rounded up to 4).
 * Each element: acc = sum over j of U[t,j] Bt[j,c] (madd, j in order), then y = (scale acc) + y.
 * Tiles of 4 rows x 8 columns, then 4 x 4; the rows left over go one at a time with the same
 * operations.
 */
export function forwardY(y: usize, u: usize, bt: usize, t0: i32, t1: i32, outF: i32, r: i32, n0: i32, n1: i32, w: i32, scale: f32): void {
  const ldy = <usize>outF << 2, ldu = <usize>r << 2, ldb = <usize>w << 2;
  const s4 = f32x4.splat(scale);
  let t = t0;
  for (; t + 4 <= t1; t += 4) {
    const u0 = u + <usize>t * ldu, y0 = y + <usize>t * ldy + (<usize>n0 << 2);
    let c = 0;
    for (; c + 8 <= w; c += 8) tile4x8(SCALE_ADD, u0, ldu, 4, bt + (<usize>c << 2), ldb, r, y0 + (<usize>c << 2), ldy, s4, n1 - n0 - c, false, 0);
    for (; c < w; c += 4) tile4x4(SCALE_ADD, u0, ldu, 4, bt + (<usize>c << 2), ldb, r, y0 + (<usize>c << 2), ldy, s4, n1 - n0 - c, false, 0);
  }
  for (; t < t1; t++) {
    const u0 = u + <usize>t * ldu, y0 = y + <usize>t * ldy + (<usize>n0 << 2);
    for (let c = 0; c < w; c += 4) tile1x4(SCALE_ADD, u0, 4, bt + (<usize>c << 2), ldb, r, y0 + (<usize>c << 2), s4, n1 - n0 - c, false, 0);
  }
}
