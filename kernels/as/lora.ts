// LoRA pieces that are not plain matmuls (the rest reuse matmul: see WasmBackend.loraForward/Backward).
// A is [r, in] (PEFT layout); mask is the dropout mask [T, in] (already scaled by 1/(1-p)),
// pointer 0 meaning no dropout. r is small (4..64), so these loop over r inside the in-dimension
// loop instead of packing. WGSL twin: kernels/wgsl/lora.wgsl.
import { chunkStart, chunkEnd } from './common/threads';

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
        s0 = f32x4.add(s0, f32x4.mul(xv, v128.load(a0 + o)));
        s1 = f32x4.add(s1, f32x4.mul(xv, v128.load(a1 + o)));
        s2 = f32x4.add(s2, f32x4.mul(xv, v128.load(a2 + o)));
        s3 = f32x4.add(s3, f32x4.mul(xv, v128.load(a3 + o)));
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
        s = f32x4.add(s, f32x4.mul(xv, v128.load(aj + o)));
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
        s = f32x4.add(s, f32x4.mul(v128.load32_splat(dur + (<usize>j << 2)), v128.load(aj)));
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
 * so each owns whole columns of dA; the r x width strip of dA it updates stays in cache.
 */
export function lora_backward_da(da: usize, du: usize, x: usize, mask: usize, T: i32, inF: i32, r: i32,
  tid: i32, nthreads: i32): void {
  const groups = (inF + 3) >> 2;
  const i0 = chunkStart(groups, tid, nthreads) << 2, i1 = min(chunkEnd(groups, tid, nthreads) << 2, inF);
  const ld = <usize>inF << 2;
  // Column strips short enough that r rows of dA (r * STRIP floats) stay in L1.
  const STRIP = 512;
  for (let s0 = i0; s0 < i1; s0 += STRIP) {
    const s1 = min(i1, s0 + STRIP);
    for (let t = 0; t < T; t++) {
      const xr = x + <usize>t * ld, mr = mask + <usize>t * ld;
      const dur = du + (<usize>t * <usize>r << 2);
      let i = s0;
      for (; i + 4 <= s1; i += 4) {
        const o = <usize>i << 2;
        let xv = v128.load(xr + o);
        if (mask) xv = f32x4.mul(xv, v128.load(mr + o));
        let dap = da + o;
        for (let j = 0; j < r; j++) {
          v128.store(dap, f32x4.add(v128.load(dap), f32x4.mul(v128.load32_splat(dur + (<usize>j << 2)), xv)));
          dap += ld;
        }
      }
      for (; i < s1; i++) {
        const o = <usize>i << 2;
        const xv = mask ? load<f32>(xr + o) * load<f32>(mr + o) : load<f32>(xr + o);
        for (let j = 0; j < r; j++) {
          const p = da + <usize>j * ld + o;
          store<f32>(p, load<f32>(p) + load<f32>(dur + (<usize>j << 2)) * xv);
        }
      }
    }
  }
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}
