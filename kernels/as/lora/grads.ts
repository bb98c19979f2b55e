// LoRA's weight gradients on WASM, for lora_backward_grads (kernels/as/lora.ts): dA += dU^T (X ∘ mask)
// and dB += scale dY^T U, sums over all T rows in fixed blocks of T_BLOCK rows.
import { chunkStart, chunkEnd } from '../common/threads';
import { madd } from '../common/madd';
import { addVec, tile1x4, tile4x4, tile4x8, SCALE_ADD } from '../common/tile';

/** rows per block of the sums over T (dA, dB): fixed, so the thread count changes no bit */
const T_BLOCK = 64;

/**
 * dA's share of this thread: a 4 x 8 block of dA is accumulated in registers over a block of
 * T_BLOCK rows (fixed blocks: their x and mask lines stay in L1 from one group of columns to the
 * next), then added into dA (the broadcast form of kernels/as/matmul.ts, with the mask applied to
 * each X vector). A group
 * of 4 columns left over at the end of a thread's share takes the same vector operations, 4
 * columns wide, so every column of dA gets the same arithmetic (fused in the FMA build) whatever
 * the thread count; only the last in % 4 columns go one by one.
 */
export function gradA(da: usize, du: usize, x: usize, mask: usize, T: i32, inF: i32, r: i32, tid: i32, nthreads: i32): void {
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
export function gradB(db: usize, dy: usize, u: usize, T: i32, outF: i32, r: i32, scale: f32, tid: i32, nthreads: i32): void {
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
  // dB[o+i, j..] += scale * sum over t of dY[t, o+i] U[t, j..]: g down dY's column o+i (stepG ldy)
  let j = 0;
  for (; j + 8 <= r; j += 8) tile4x8(SCALE_ADD, dy0, 4, ldy, u0 + (<usize>j << 2), ldu, te - tb, pdb + (<usize>j << 2), ldu, s4, 8, false, 0);
  for (; j + 4 <= r; j += 4) tile4x4(SCALE_ADD, dy0, 4, ldy, u0 + (<usize>j << 2), ldu, te - tb, pdb + (<usize>j << 2), ldu, s4, 4, false, 0);
  for (let k = 0; k < 4; k++) gradBTail(db, dy, u, tb, te, outF, r, scale, o + k, j);
}

function gradB1(db: usize, dy: usize, u: usize, tb: i32, te: i32, outF: i32, r: i32, scale: f32, o: i32): void {
  const ldy = <usize>outF << 2, ldu = <usize>r << 2;
  const s4 = f32x4.splat(scale);
  const pdb = db + <usize>o * ldu, dy0 = dy + <usize>tb * ldy + (<usize>o << 2), u0 = u + <usize>tb * ldu;
  let j = 0;
  for (; j + 4 <= r; j += 4) tile1x4(SCALE_ADD, dy0, ldy, u0 + (<usize>j << 2), ldu, te - tb, pdb + (<usize>j << 2), s4, 4, false, 0);
  gradBTail(db, dy, u, tb, te, outF, r, scale, o, j);
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
