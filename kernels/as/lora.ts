// LoRA pieces that are not plain matmuls (the rest reuse matmul: see WasmBackend.loraForward/Backward).
// A is [r, in] (PEFT layout); mask is the dropout mask [T, in] (already scaled by 1/(1-p)),
// pointer 0 meaning no dropout. r is small (4..64), so these loop over r inside the in-dimension
// loop instead of packing. WGSL twin: kernels/wgsl/lora.wgsl.
import { chunkStart, chunkEnd } from './common/threads';
import { madd } from './common/madd';

/** U[T,r] = (X ∘ mask) A^T (written). Threads split the rows of X. */
export function lora_forward_u(u: usize, x: usize, a: usize, mask: usize, T: i32, inF: i32, r: i32,
  tid: i32, nthreads: i32): void {
  const t0 = chunkStart(T, tid, nthreads), t1 = chunkEnd(T, tid, nthreads);
  const ld = <usize>inF << 2;
  for (let t = t0; t < t1; t++) {
    const xr = x + <usize>t * ld, mr = mask + <usize>t * ld;
    // Four rows of A at a time: each masked x vector is loaded once for four dot products.
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
      let d0 = hsum(s0), d1 = hsum(s1), d2 = hsum(s2), d3 = hsum(s3);
      for (; i < inF; i++) {
        const o = <usize>i << 2;
        const xv = mask ? load<f32>(xr + o) * load<f32>(mr + o) : load<f32>(xr + o);
        d0 += xv * load<f32>(a0 + o); d1 += xv * load<f32>(a1 + o);
        d2 += xv * load<f32>(a2 + o); d3 += xv * load<f32>(a3 + o);
      }
      const ur = u + ((<usize>t * <usize>r + <usize>j) << 2);
      store<f32>(ur, d0); store<f32>(ur, d1, 4); store<f32>(ur, d2, 8); store<f32>(ur, d3, 12);
    }
    for (; j < r; j++) {
      const aj = a + <usize>j * ld;
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
  }
}

/** dX[T,in] += (dU A) ∘ mask (added into). Threads split the rows of dX. */
export function lora_backward_dx(dx: usize, du: usize, a: usize, mask: usize, T: i32, inF: i32, r: i32,
  tid: i32, nthreads: i32): void {
  const t0 = chunkStart(T, tid, nthreads), t1 = chunkEnd(T, tid, nthreads);
  const ld = <usize>inF << 2;
  for (let t = t0; t < t1; t++) {
    const dxr = dx + <usize>t * ld, mr = mask + <usize>t * ld;
    const dur = du + (<usize>t * <usize>r << 2);
    let i = 0;
    for (; i + 4 <= inF; i += 4) {
      const o = <usize>i << 2;
      let s = f32x4.splat(0);
      let aj = a + o;
      for (let j = 0; j < r; j++) {
        s = madd(v128.load32_splat(dur + (<usize>j << 2)), v128.load(aj), s);
        aj += ld;
      }
      if (mask) s = f32x4.mul(s, v128.load(mr + o));
      v128.store(dxr + o, f32x4.add(v128.load(dxr + o), s));
    }
    for (; i < inF; i++) {
      const o = <usize>i << 2;
      let s: f32 = 0;
      for (let j = 0; j < r; j++) s += load<f32>(dur + (<usize>j << 2)) * load<f32>(a + <usize>j * ld + o);
      if (mask) s *= load<f32>(mr + o);
      store<f32>(dxr + o, load<f32>(dxr + o) + s);
    }
  }
}

/**
 * dA[r,in] += dU^T (X ∘ mask) (added into). Threads split the in-columns (in groups of four),
 * so each owns whole columns of dA. A 4 x 8 block of dA is accumulated in registers over all T
 * rows (the broadcast form of kernels/as/matmul.ts, with the mask applied to each X vector).
 * A group of 4 columns left over at the end of a thread's share takes the same vector
 * operations, 4 columns wide, so every column of dA gets the same arithmetic (fused in the FMA
 * build) whatever the thread count; only the last in % 4 columns go one by one.
 */
export function lora_backward_da(da: usize, du: usize, x: usize, mask: usize, T: i32, inF: i32, r: i32,
  tid: i32, nthreads: i32): void {
  const groups = (inF + 3) >> 2;
  const i0 = chunkStart(groups, tid, nthreads) << 2, i1 = min(chunkEnd(groups, tid, nthreads) << 2, inF);
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

@inline function addVec(p: usize, v: v128): void {
  v128.store(p, f32x4.add(v128.load(p), v));
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}
