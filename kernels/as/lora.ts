// LoRA on the WASM backend: y += scale * B A (x ∘ mask), A [r, in] (PEFT layout), B [out, r],
// mask the dropout mask [T, in] (already scaled by 1/(1-p)), pointer 0 meaning no dropout.
// WGSL twin: kernels/wgsl/lora.wgsl (which leaves the plain products to matmul.wgsl).
//
// The whole op takes three dispatches instead of six (each wake-up of the pool costs tens of
// microseconds, as much as the arithmetic on a small model's 1000 x 64 x 8 products):
// - lora_forward: U = (X ∘ mask) A^T and Y += scale U B^T, threads split the rows;
// - lora_backward_rows: dU = scale dY B and dX += (dU A) ∘ mask, threads split the rows;
// - lora_backward_grads: dA += dU^T (X ∘ mask) and dB += scale dY^T U, reductions over all T
//   rows; threads split the columns of dA and the rows of dB, so each owns whole sums.
// r is small (1..64 in practice), so the loops over r sit inside the loops over in/out.
//
// Determinism: every element of every output gets the same operations in the same order whatever
// the thread count. Blocks of 4 rows (or columns) and the rows left over take the same per-element
// sequence of madd; only the last in % 4, out % 4 or r % 4 columns, fixed by the shape, go one by
// one.
import { chunkStart, chunkEnd } from './common/threads';
import { madd } from './common/madd';
import { SCRATCH_SLICE_BYTES } from './common/scratch';

/** rows per block of the sums over T (dA, dB): fixed, so the thread count changes no bit */
const T_BLOCK = 64;

/**
 * U[T,r] = (X ∘ mask) A^T (written) and Y[T,out] += scale U B^T (added into). Threads split the
 * rows. Each computes its rows of U, then their rows of Y from a transposed copy of B,
 * Bt[j, c] = B[c, j] (zero-padded to whole vectors), in its slice of the kernels' scratch
 * (common/scratch.ts); a B whose copy does not fit goes in column blocks that do.
 */
export function lora_forward(y: usize, u: usize, x: usize, a: usize, b: usize, mask: usize,
  T: i32, inF: i32, outF: i32, r: i32, scale: f32, scratch: usize, tid: i32, nthreads: i32): void {
  const t0 = chunkStart(T, tid, nthreads), t1 = chunkEnd(T, tid, nthreads);
  if (t0 >= t1 || r <= 0) return;
  forwardU(u, x, a, mask, t0, t1, inF, r);
  const bt = scratch + <usize>tid * SCRATCH_SLICE_BYTES;
  const nc = min(max((<i32>(SCRATCH_SLICE_BYTES >> 2) / r) & ~7, 8), (outF + 7) & ~7); // columns per block, whole 8s
  for (let n0 = 0; n0 < outF; n0 += nc) {
    const n1 = min(outF, n0 + nc), w = (n1 - n0 + 3) & ~3;
    for (let j = 0; j < r; j++) {
      const row = bt + (<usize>(j * w) << 2);
      for (let c = 0; c < w; c++) {
        store<f32>(row + (<usize>c << 2), n0 + c < n1 ? load<f32>(b + (<usize>((n0 + c) * r + j) << 2)) : 0);
      }
    }
    forwardY(y, u, bt, t0, t1, outF, r, n0, n1, w, scale);
  }
}

/**
 * U rows t0..t1: U[t,j] = the dot product of the masked x row with row j of A: four lanes of
 * madd along in, summed across (hsum), then the last in % 4 terms one by one. Tiles of 2 rows x 4
 * rows of A (each A vector serves two rows); a row left over takes the same operations alone.
 */
function forwardU(u: usize, x: usize, a: usize, mask: usize, t0: i32, t1: i32, inF: i32, r: i32): void {
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
 * Tiles of 4 rows x 8 columns; the rows left over go one at a time with the same operations.
 */
function forwardY(y: usize, u: usize, bt: usize, t0: i32, t1: i32, outF: i32, r: i32, n0: i32, n1: i32, w: i32, scale: f32): void {
  const ldy = <usize>outF << 2, ldu = <usize>r << 2, ldb = <usize>w << 2;
  const s4 = f32x4.splat(scale);
  let t = t0;
  for (; t + 4 <= t1; t += 4) {
    const u0 = u + <usize>t * ldu, y0 = y + <usize>t * ldy + (<usize>n0 << 2);
    let c = 0;
    for (; c + 8 <= w; c += 8) {
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
      let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
      let pb = bt + (<usize>c << 2), pu = u0;
      for (let j = 0; j < r; j++) {
        const b0 = v128.load(pb), b1 = v128.load(pb, 16);
        let g = v128.load32_splat(pu);
        a00 = madd(g, b0, a00); a01 = madd(g, b1, a01);
        g = v128.load32_splat(pu + ldu);
        a10 = madd(g, b0, a10); a11 = madd(g, b1, a11);
        g = v128.load32_splat(pu + 2 * ldu);
        a20 = madd(g, b0, a20); a21 = madd(g, b1, a21);
        g = v128.load32_splat(pu + 3 * ldu);
        a30 = madd(g, b0, a30); a31 = madd(g, b1, a31);
        pb += ldb; pu += 4;
      }
      const py = y0 + (<usize>c << 2);
      yUpdate(py, a00, s4, n1 - n0 - c); yUpdate(py + 16, a01, s4, n1 - n0 - c - 4);
      yUpdate(py + ldy, a10, s4, n1 - n0 - c); yUpdate(py + ldy + 16, a11, s4, n1 - n0 - c - 4);
      yUpdate(py + 2 * ldy, a20, s4, n1 - n0 - c); yUpdate(py + 2 * ldy + 16, a21, s4, n1 - n0 - c - 4);
      yUpdate(py + 3 * ldy, a30, s4, n1 - n0 - c); yUpdate(py + 3 * ldy + 16, a31, s4, n1 - n0 - c - 4);
    }
    for (; c < w; c += 4) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let pb = bt + (<usize>c << 2), pu = u0;
      for (let j = 0; j < r; j++) {
        const b0 = v128.load(pb);
        a0 = madd(v128.load32_splat(pu), b0, a0);
        a1 = madd(v128.load32_splat(pu + ldu), b0, a1);
        a2 = madd(v128.load32_splat(pu + 2 * ldu), b0, a2);
        a3 = madd(v128.load32_splat(pu + 3 * ldu), b0, a3);
        pb += ldb; pu += 4;
      }
      const py = y0 + (<usize>c << 2);
      yUpdate(py, a0, s4, n1 - n0 - c); yUpdate(py + ldy, a1, s4, n1 - n0 - c);
      yUpdate(py + 2 * ldy, a2, s4, n1 - n0 - c); yUpdate(py + 3 * ldy, a3, s4, n1 - n0 - c);
    }
  }
  for (; t < t1; t++) {
    const u0 = u + <usize>t * ldu, y0 = y + <usize>t * ldy + (<usize>n0 << 2);
    for (let c = 0; c < w; c += 4) {
      let a0 = f32x4.splat(0);
      let pb = bt + (<usize>c << 2), pu = u0;
      for (let j = 0; j < r; j++) {
        a0 = madd(v128.load32_splat(pu), v128.load(pb), a0);
        pb += ldb; pu += 4;
      }
      yUpdate(y0 + (<usize>c << 2), a0, s4, n1 - n0 - c);
    }
  }
}

/**
 * p[0..n) += scale acc, n = the lanes left in the row (>= 4: all). Rounded as matmul's epilogue
 * (alpha C: scale acc, then + y), as the matmul this replaced did.
 */
@inline function yUpdate(p: usize, acc: v128, s4: v128, n: i32): void {
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

/**
 * dU[T,r] = scale dY B (written) and dX[T,in] += (dU A) ∘ mask (added into). Threads split the
 * rows; blocks of 4 rows, the rows left over one at a time with the same operations.
 */
export function lora_backward_rows(dx: usize, du: usize, dy: usize, a: usize, b: usize, mask: usize,
  T: i32, inF: i32, outF: i32, r: i32, scale: f32, tid: i32, nthreads: i32): void {
  const t0 = chunkStart(T, tid, nthreads), t1 = chunkEnd(T, tid, nthreads);
  if (t0 >= t1 || r <= 0) return;
  let t = t0;
  for (; t + 4 <= t1; t += 4) {
    backwardDU(du, dy, b, t, 4, outF, r, scale);
    backwardDX4(dx, du, a, mask, t, inF, r);
  }
  for (; t < t1; t++) {
    backwardDU(du, dy, b, t, 1, outF, r, scale);
    backwardDX1(dx, du, a, mask, t, inF, r);
  }
}

/**
 * dU rows t..t+rows (rows 4 or 1): dU[t,j] = scale * (sum over o of dY[t,o] B[o,j], madd, o in
 * order); j in vectors of 4 (two at a time), the last r % 4 one at a time.
 */
@inline function backwardDU(du: usize, dy: usize, b: usize, t: i32, rows: i32, outF: i32, r: i32, scale: f32): void {
  const ldy = <usize>outF << 2, ldu = <usize>r << 2;
  const s4 = f32x4.splat(scale);
  const dy0 = dy + <usize>t * ldy, du0 = du + <usize>t * ldu;
  let j = 0;
  if (rows == 4) {
    for (; j + 8 <= r; j += 8) {
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
      let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
      let pb = b + (<usize>j << 2), py = dy0;
      for (let o = 0; o < outF; o++) {
        const b0 = v128.load(pb), b1 = v128.load(pb, 16);
        let g = v128.load32_splat(py);
        a00 = madd(g, b0, a00); a01 = madd(g, b1, a01);
        g = v128.load32_splat(py + ldy);
        a10 = madd(g, b0, a10); a11 = madd(g, b1, a11);
        g = v128.load32_splat(py + 2 * ldy);
        a20 = madd(g, b0, a20); a21 = madd(g, b1, a21);
        g = v128.load32_splat(py + 3 * ldy);
        a30 = madd(g, b0, a30); a31 = madd(g, b1, a31);
        pb += ldu; py += 4;
      }
      const pu = du0 + (<usize>j << 2);
      v128.store(pu, f32x4.mul(s4, a00)); v128.store(pu, f32x4.mul(s4, a01), 16);
      v128.store(pu + ldu, f32x4.mul(s4, a10)); v128.store(pu + ldu, f32x4.mul(s4, a11), 16);
      v128.store(pu + 2 * ldu, f32x4.mul(s4, a20)); v128.store(pu + 2 * ldu, f32x4.mul(s4, a21), 16);
      v128.store(pu + 3 * ldu, f32x4.mul(s4, a30)); v128.store(pu + 3 * ldu, f32x4.mul(s4, a31), 16);
    }
  }
  for (; j + 4 <= r; j += 4) {
    let pb = b + (<usize>j << 2), py = dy0;
    if (rows == 4) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let o = 0; o < outF; o++) {
        const bv = v128.load(pb);
        a0 = madd(v128.load32_splat(py), bv, a0);
        a1 = madd(v128.load32_splat(py + ldy), bv, a1);
        a2 = madd(v128.load32_splat(py + 2 * ldy), bv, a2);
        a3 = madd(v128.load32_splat(py + 3 * ldy), bv, a3);
        pb += ldu; py += 4;
      }
      const pu = du0 + (<usize>j << 2);
      v128.store(pu, f32x4.mul(s4, a0)); v128.store(pu + ldu, f32x4.mul(s4, a1));
      v128.store(pu + 2 * ldu, f32x4.mul(s4, a2)); v128.store(pu + 3 * ldu, f32x4.mul(s4, a3));
    } else {
      let a0 = f32x4.splat(0);
      for (let o = 0; o < outF; o++) {
        a0 = madd(v128.load32_splat(py), v128.load(pb), a0);
        pb += ldu; py += 4;
      }
      v128.store(du0 + (<usize>j << 2), f32x4.mul(s4, a0));
    }
  }
  for (; j < r; j++) {
    for (let k = 0; k < rows; k++) {
      const py = dy0 + <usize>k * ldy;
      let s: f32 = 0;
      for (let o = 0; o < outF; o++) s += load<f32>(py + (<usize>o << 2)) * load<f32>(b + (<usize>(o * r + j) << 2));
      store<f32>(du0 + <usize>k * ldu + (<usize>j << 2), scale * s);
    }
  }
}

/**
 * dX rows t..t+4 += (dU A) ∘ mask: per element, madd over j in order, times the mask, added.
 * Tiles of 4 rows x 8 columns (each splat of dU serves two vectors of A), then 4 x 4.
 */
function backwardDX4(dx: usize, du: usize, a: usize, mask: usize, t: i32, inF: i32, r: i32): void {
  const ld = <usize>inF << 2, ldu = <usize>r << 2;
  const dx0 = dx + <usize>t * ld, m0 = mask + <usize>t * ld, du0 = du + <usize>t * ldu;
  let i = 0;
  for (; i + 8 <= inF; i += 8) {
    const o = <usize>i << 2;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let z0 = f32x4.splat(0), z1 = f32x4.splat(0), z2 = f32x4.splat(0), z3 = f32x4.splat(0);
    let aj = a + o, pu = du0;
    for (let j = 0; j < r; j++) {
      const av = v128.load(aj), aw = v128.load(aj, 16);
      let g = v128.load32_splat(pu);
      s0 = madd(g, av, s0); z0 = madd(g, aw, z0);
      g = v128.load32_splat(pu + ldu);
      s1 = madd(g, av, s1); z1 = madd(g, aw, z1);
      g = v128.load32_splat(pu + 2 * ldu);
      s2 = madd(g, av, s2); z2 = madd(g, aw, z2);
      g = v128.load32_splat(pu + 3 * ldu);
      s3 = madd(g, av, s3); z3 = madd(g, aw, z3);
      aj += ld; pu += 4;
    }
    if (mask) {
      s0 = f32x4.mul(s0, v128.load(m0 + o)); z0 = f32x4.mul(z0, v128.load(m0 + o, 16));
      s1 = f32x4.mul(s1, v128.load(m0 + ld + o)); z1 = f32x4.mul(z1, v128.load(m0 + ld + o, 16));
      s2 = f32x4.mul(s2, v128.load(m0 + 2 * ld + o)); z2 = f32x4.mul(z2, v128.load(m0 + 2 * ld + o, 16));
      s3 = f32x4.mul(s3, v128.load(m0 + 3 * ld + o)); z3 = f32x4.mul(z3, v128.load(m0 + 3 * ld + o, 16));
    }
    addVec(dx0 + o, s0); addVec(dx0 + o + 16, z0);
    addVec(dx0 + ld + o, s1); addVec(dx0 + ld + o + 16, z1);
    addVec(dx0 + 2 * ld + o, s2); addVec(dx0 + 2 * ld + o + 16, z2);
    addVec(dx0 + 3 * ld + o, s3); addVec(dx0 + 3 * ld + o + 16, z3);
  }
  for (; i + 4 <= inF; i += 4) {
    const o = <usize>i << 2;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let aj = a + o, pu = du0;
    for (let j = 0; j < r; j++) {
      const av = v128.load(aj);
      s0 = madd(v128.load32_splat(pu), av, s0);
      s1 = madd(v128.load32_splat(pu + ldu), av, s1);
      s2 = madd(v128.load32_splat(pu + 2 * ldu), av, s2);
      s3 = madd(v128.load32_splat(pu + 3 * ldu), av, s3);
      aj += ld; pu += 4;
    }
    if (mask) {
      s0 = f32x4.mul(s0, v128.load(m0 + o)); s1 = f32x4.mul(s1, v128.load(m0 + ld + o));
      s2 = f32x4.mul(s2, v128.load(m0 + 2 * ld + o)); s3 = f32x4.mul(s3, v128.load(m0 + 3 * ld + o));
    }
    addVec(dx0 + o, s0); addVec(dx0 + ld + o, s1); addVec(dx0 + 2 * ld + o, s2); addVec(dx0 + 3 * ld + o, s3);
  }
  for (let k = 0; k < 4; k++) dxTail(dx, du, a, mask, t + k, i, inF, r);
}

function backwardDX1(dx: usize, du: usize, a: usize, mask: usize, t: i32, inF: i32, r: i32): void {
  const ld = <usize>inF << 2;
  const dxr = dx + <usize>t * ld, mr = mask + <usize>t * ld, dur = du + (<usize>t * <usize>r << 2);
  let i = 0;
  for (; i + 4 <= inF; i += 4) {
    const o = <usize>i << 2;
    let s = f32x4.splat(0);
    let aj = a + o, pu = dur;
    for (let j = 0; j < r; j++) {
      s = madd(v128.load32_splat(pu), v128.load(aj), s);
      aj += ld; pu += 4;
    }
    if (mask) s = f32x4.mul(s, v128.load(mr + o));
    addVec(dxr + o, s);
  }
  dxTail(dx, du, a, mask, t, i, inF, r);
}

/** dX[t, i0..in) one column at a time (the last in % 4 columns). */
@inline function dxTail(dx: usize, du: usize, a: usize, mask: usize, t: i32, i0: i32, inF: i32, r: i32): void {
  const ld = <usize>inF << 2;
  const dxr = dx + <usize>t * ld, mr = mask + <usize>t * ld, dur = du + (<usize>t * <usize>r << 2);
  for (let i = i0; i < inF; i++) {
    const o = <usize>i << 2;
    let s: f32 = 0;
    for (let j = 0; j < r; j++) s += load<f32>(dur + (<usize>j << 2)) * load<f32>(a + <usize>j * ld + o);
    if (mask) s *= load<f32>(mr + o);
    store<f32>(dxr + o, load<f32>(dxr + o) + s);
  }
}

/**
 * dA[r,in] += dU^T (X ∘ mask) and dB[out,r] += scale dY^T U (either pointer 0: skipped), sums
 * over all T rows. Threads split the columns of dA and the rows of dB in groups of four, so each
 * owns whole sums and the thread count changes no bit.
 */
export function lora_backward_grads(da: usize, db: usize, du: usize, dy: usize, x: usize, u: usize, mask: usize,
  T: i32, inF: i32, outF: i32, r: i32, scale: f32, tid: i32, nthreads: i32): void {
  if (r <= 0) return;
  if (da) gradA(da, du, x, mask, T, inF, r, tid, nthreads);
  if (db) gradB(db, dy, u, T, outF, r, scale, tid, nthreads);
}

/**
 * dA's share of this thread: a 4 x 8 block of dA is accumulated in registers over a block of
 * T_BLOCK rows (fixed blocks: their x and mask lines stay in L1 from one group of columns to the
 * next), then added into dA (the broadcast form of kernels/as/matmul.ts, with the mask applied to
 * each X vector). A group
 * of 4 columns left over at the end of a thread's share takes the same vector operations, 4
 * columns wide, so every column of dA gets the same arithmetic (fused in the FMA build) whatever
 * the thread count; only the last in % 4 columns go one by one.
 */
function gradA(da: usize, du: usize, x: usize, mask: usize, T: i32, inF: i32, r: i32, tid: i32, nthreads: i32): void {
  const groups = (inF + 3) >> 2;
  const i0 = chunkStart(groups, tid, nthreads) << 2, i1 = min(chunkEnd(groups, tid, nthreads) << 2, inF);
  const ld = <usize>inF << 2;
  for (let tb = 0; tb < T; tb += T_BLOCK) {
    const te = min(T, tb + T_BLOCK);
    gradABlock(da, du + <usize>tb * (<usize>r << 2), x + <usize>tb * ld, mask ? mask + <usize>tb * ld : 0, te - tb, inF, r, i0, i1);
  }
}

/** dA[:, i0..i1) += the sums over T rows (a block of them: x, mask and du point at its first row). */
function gradABlock(da: usize, du: usize, x: usize, mask: usize, T: i32, inF: i32, r: i32, i0: i32, i1: i32): void {
  const ld = <usize>inF << 2, ldu = <usize>r << 2;
  let i = i0;
  for (; i + 8 <= i1; i += 8) {
    const xc = x + (<usize>i << 2), mc = mask + (<usize>i << 2), dac = da + (<usize>i << 2);
    let j = 0;
    for (; j + 4 <= r; j += 4) {
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
      let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
      let px = xc, pm = mc, pu = du + (<usize>j << 2);
      for (let t = 0; t < T; t++) {
        let x0 = v128.load(px), x1 = v128.load(px, 16);
        if (mask) { x0 = f32x4.mul(x0, v128.load(pm)); x1 = f32x4.mul(x1, v128.load(pm, 16)); }
        let g = v128.load32_splat(pu);
        a00 = madd(g, x0, a00); a01 = madd(g, x1, a01);
        g = v128.load32_splat(pu, 4);
        a10 = madd(g, x0, a10); a11 = madd(g, x1, a11);
        g = v128.load32_splat(pu, 8);
        a20 = madd(g, x0, a20); a21 = madd(g, x1, a21);
        g = v128.load32_splat(pu, 12);
        a30 = madd(g, x0, a30); a31 = madd(g, x1, a31);
        px += ld; pm += ld; pu += ldu;
      }
      const p = dac + <usize>j * ld;
      addVec(p, a00); addVec(p + 16, a01);
      addVec(p + ld, a10); addVec(p + ld + 16, a11);
      addVec(p + 2 * ld, a20); addVec(p + 2 * ld + 16, a21);
      addVec(p + 3 * ld, a30); addVec(p + 3 * ld + 16, a31);
    }
    for (; j < r; j++) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      let px = xc, pm = mc, pu = du + (<usize>j << 2);
      for (let t = 0; t < T; t++) {
        let x0 = v128.load(px), x1 = v128.load(px, 16);
        if (mask) { x0 = f32x4.mul(x0, v128.load(pm)); x1 = f32x4.mul(x1, v128.load(pm, 16)); }
        const g = v128.load32_splat(pu);
        a0 = madd(g, x0, a0); a1 = madd(g, x1, a1);
        px += ld; pm += ld; pu += ldu;
      }
      const p = dac + <usize>j * ld;
      addVec(p, a0); addVec(p + 16, a1);
    }
  }
  // A remaining group of 4 columns: the same sums, one vector wide.
  for (; i + 4 <= i1; i += 4) {
    const xc = x + (<usize>i << 2), mc = mask + (<usize>i << 2), dac = da + (<usize>i << 2);
    for (let j = 0; j < r; j++) {
      let acc = f32x4.splat(0);
      let px = xc, pm = mc, pu = du + (<usize>j << 2);
      for (let t = 0; t < T; t++) {
        let x0 = v128.load(px);
        if (mask) x0 = f32x4.mul(x0, v128.load(pm));
        acc = madd(v128.load32_splat(pu), x0, acc);
        px += ld; pm += ld; pu += ldu;
      }
      addVec(dac + <usize>j * ld, acc);
    }
  }
  // The last in % 4 columns: one at a time.
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    for (let j = 0; j < r; j++) {
      let s: f32 = 0;
      for (let t = 0; t < T; t++) {
        const xv = mask ? load<f32>(x + <usize>t * ld + o) * load<f32>(mask + <usize>t * ld + o) : load<f32>(x + <usize>t * ld + o);
        s += load<f32>(du + ((<usize>t * <usize>r + <usize>j) << 2)) * xv;
      }
      const p = da + <usize>j * ld + o;
      store<f32>(p, load<f32>(p) + s);
    }
  }
}

/**
 * dB's share of this thread: rows o of dB in groups of 4 (the last group may be short: its rows go
 * one at a time with the same operations). The T rows go in fixed blocks of T_BLOCK (their dY
 * lines stay in L1 from one group of o to the next); per block and element, acc = sum over the
 * block's t of dY[t,o] U[t,j] (madd, t in order), then dB = (scale acc) + dB (rounded as
 * matmul's epilogue, as the matmul with 64-row k blocks this replaced did). j in
 * vectors of 4 (two at a time), the last r % 4 one by one.
 */
function gradB(db: usize, dy: usize, u: usize, T: i32, outF: i32, r: i32, scale: f32, tid: i32, nthreads: i32): void {
  const groups = (outF + 3) >> 2;
  const o0 = chunkStart(groups, tid, nthreads) << 2, o1 = min(chunkEnd(groups, tid, nthreads) << 2, outF);
  for (let tb = 0; tb < T; tb += T_BLOCK) {
    const te = min(T, tb + T_BLOCK);
    let o = o0;
    for (; o + 4 <= o1; o += 4) gradB4(db, dy, u, tb, te, outF, r, scale, o);
    for (; o < o1; o++) gradB1(db, dy, u, tb, te, outF, r, scale, o);
  }
}


function gradB4(db: usize, dy: usize, u: usize, tb: i32, te: i32, outF: i32, r: i32, scale: f32, o: i32): void {
  const ldy = <usize>outF << 2, ldu = <usize>r << 2;
  const s4 = f32x4.splat(scale);
  const pdb = db + <usize>o * ldu, dy0 = dy + <usize>tb * ldy + (<usize>o << 2), u0 = u + <usize>tb * ldu;
  let j = 0;
  for (; j + 8 <= r; j += 8) {
    let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
    let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
    let py = dy0, pu = u0 + (<usize>j << 2);
    for (let t = tb; t < te; t++) {
      const u0v = v128.load(pu), u1v = v128.load(pu, 16);
      let g = v128.load32_splat(py);
      a00 = madd(g, u0v, a00); a01 = madd(g, u1v, a01);
      g = v128.load32_splat(py, 4);
      a10 = madd(g, u0v, a10); a11 = madd(g, u1v, a11);
      g = v128.load32_splat(py, 8);
      a20 = madd(g, u0v, a20); a21 = madd(g, u1v, a21);
      g = v128.load32_splat(py, 12);
      a30 = madd(g, u0v, a30); a31 = madd(g, u1v, a31);
      py += ldy; pu += ldu;
    }
    const p = pdb + (<usize>j << 2);
    dbUpdate(p, a00, s4); dbUpdate(p + 16, a01, s4);
    dbUpdate(p + ldu, a10, s4); dbUpdate(p + ldu + 16, a11, s4);
    dbUpdate(p + 2 * ldu, a20, s4); dbUpdate(p + 2 * ldu + 16, a21, s4);
    dbUpdate(p + 3 * ldu, a30, s4); dbUpdate(p + 3 * ldu + 16, a31, s4);
  }
  for (; j + 4 <= r; j += 4) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let py = dy0, pu = u0 + (<usize>j << 2);
    for (let t = tb; t < te; t++) {
      const uv = v128.load(pu);
      a0 = madd(v128.load32_splat(py), uv, a0);
      a1 = madd(v128.load32_splat(py, 4), uv, a1);
      a2 = madd(v128.load32_splat(py, 8), uv, a2);
      a3 = madd(v128.load32_splat(py, 12), uv, a3);
      py += ldy; pu += ldu;
    }
    const p = pdb + (<usize>j << 2);
    dbUpdate(p, a0, s4); dbUpdate(p + ldu, a1, s4); dbUpdate(p + 2 * ldu, a2, s4); dbUpdate(p + 3 * ldu, a3, s4);
  }
  for (let k = 0; k < 4; k++) gradBTail(db, dy, u, tb, te, outF, r, scale, o + k, j);
}

function gradB1(db: usize, dy: usize, u: usize, tb: i32, te: i32, outF: i32, r: i32, scale: f32, o: i32): void {
  const ldy = <usize>outF << 2, ldu = <usize>r << 2;
  const s4 = f32x4.splat(scale);
  const pdb = db + <usize>o * ldu, dy0 = dy + <usize>tb * ldy + (<usize>o << 2), u0 = u + <usize>tb * ldu;
  let j = 0;
  for (; j + 4 <= r; j += 4) {
    let a0 = f32x4.splat(0);
    let py = dy0, pu = u0 + (<usize>j << 2);
    for (let t = tb; t < te; t++) {
      a0 = madd(v128.load32_splat(py), v128.load(pu), a0);
      py += ldy; pu += ldu;
    }
    dbUpdate(pdb + (<usize>j << 2), a0, s4);
  }
  gradBTail(db, dy, u, tb, te, outF, r, scale, o, j);
}

@inline function dbUpdate(p: usize, acc: v128, s4: v128): void {
  v128.store(p, f32x4.add(f32x4.mul(s4, acc), v128.load(p)));
}

/** dB[o, j0..r) one at a time (the last r % 4 columns), over the rows tb..te. */
@inline function gradBTail(db: usize, dy: usize, u: usize, tb: i32, te: i32, outF: i32, r: i32, scale: f32, o: i32, j0: i32): void {
  const ldy = <usize>outF << 2, ldu = <usize>r << 2;
  for (let j = j0; j < r; j++) {
    let s: f32 = 0;
    let py = dy + <usize>tb * ldy + (<usize>o << 2), pu = u + <usize>tb * ldu + (<usize>j << 2);
    for (let t = tb; t < te; t++) {
      s += load<f32>(py) * load<f32>(pu);
      py += ldy; pu += ldu;
    }
    const p = db + <usize>o * ldu + (<usize>j << 2);
    store<f32>(p, scale * s + load<f32>(p));
  }
}

@inline function addVec(p: usize, v: v128): void {
  v128.store(p, f32x4.add(v128.load(p), v));
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}
