// RMSNorm (Hugging Face LlamaRMSNorm in f32) and its backward. WGSL twin: kernels/wgsl/rmsnorm.wgsl.
//   rstd_i = 1/sqrt(mean_k x_ik^2 + eps),  y_ik = (x_ik * rstd_i) * w_k
//   dx_ik  = rstd_i * w_k * dy_ik - x_ik * rstd_i^3 / D * sum_k dy_ik w_k x_ik
//   dw_k  += sum_i dy_ik * x_ik * rstd_i
import { chunkStart, chunkEnd } from './common/threads';

@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Threads split the rows. */
export function rmsnorm(out: usize, rstd: usize, x: usize, w: usize, rows: i32, D: i32, eps: f32, tid: i32, nthreads: i32): void {
  const s = chunkStart(rows, tid, nthreads), e = chunkEnd(rows, tid, nthreads);
  for (let i = s; i < e; i++) {
    const xr = x + ((<usize>i * <usize>D) << 2), yr = out + ((<usize>i * <usize>D) << 2);
    // Two vector accumulators: 8 partial sums keep the f32 rounding error small for wide rows.
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let k = 0;
    for (; k + 8 <= D; k += 8) {
      const v0 = v128.load(xr + (<usize>k << 2)), v1 = v128.load(xr + (<usize>k << 2), 16);
      a0 = f32x4.add(a0, f32x4.mul(v0, v0));
      a1 = f32x4.add(a1, f32x4.mul(v1, v1));
    }
    let ss = hsum(f32x4.add(a0, a1));
    for (; k < D; k++) { const v = load<f32>(xr + (<usize>k << 2)); ss += v * v; }
    const r: f32 = 1.0 / Mathf.sqrt(ss / <f32>D + eps);
    store<f32>(rstd + (<usize>i << 2), r);
    const r4 = f32x4.splat(r);
    k = 0;
    for (; k + 4 <= D; k += 4) {
      const o = <usize>k << 2;
      v128.store(yr + o, f32x4.mul(f32x4.mul(v128.load(xr + o), r4), v128.load(w + o)));
    }
    for (; k < D; k++) {
      const o = <usize>k << 2;
      store<f32>(yr + o, (load<f32>(xr + o) * r) * load<f32>(w + o));
    }
  }
}

/** Writes dX; threads split the rows. */
export function rmsnorm_backward(dx: usize, dy: usize, x: usize, w: usize, rstd: usize, rows: i32, D: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart(rows, tid, nthreads), e = chunkEnd(rows, tid, nthreads);
  for (let i = s; i < e; i++) {
    const off = (<usize>i * <usize>D) << 2;
    const xr = x + off, dyr = dy + off, dxr = dx + off;
    const r = load<f32>(rstd + (<usize>i << 2));
    let acc = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= D; k += 4) {
      const o = <usize>k << 2;
      acc = f32x4.add(acc, f32x4.mul(f32x4.mul(v128.load(dyr + o), v128.load(w + o)), v128.load(xr + o)));
    }
    let dot = hsum(acc);
    for (; k < D; k++) {
      const o = <usize>k << 2;
      dot += load<f32>(dyr + o) * load<f32>(w + o) * load<f32>(xr + o);
    }
    const c: f32 = dot * r * r * r / <f32>D;
    const r4 = f32x4.splat(r), c4 = f32x4.splat(c);
    k = 0;
    for (; k + 4 <= D; k += 4) {
      const o = <usize>k << 2;
      v128.store(dxr + o, f32x4.sub(f32x4.mul(r4, f32x4.mul(v128.load(w + o), v128.load(dyr + o))), f32x4.mul(c4, v128.load(xr + o))));
    }
    for (; k < D; k++) {
      const o = <usize>k << 2;
      store<f32>(dxr + o, r * (load<f32>(w + o) * load<f32>(dyr + o)) - c * load<f32>(xr + o));
    }
  }
}

/** Adds into dW; threads split the columns (groups of 4) so each owns its dW entries. */
export function rmsnorm_backward_weight(dw: usize, dy: usize, x: usize, rstd: usize, rows: i32, D: i32, tid: i32, nthreads: i32): void {
  const groups = (D + 3) >> 2;
  const c0 = chunkStart(groups, tid, nthreads) << 2;
  const c1 = min(D, chunkEnd(groups, tid, nthreads) << 2);
  // Blocks of up to 2048 columns (8 KiB of dW, which stays in L1) while each row's segment of
  // dy and x streams past contiguously.
  for (let b0 = c0; b0 < c1; b0 += 2048) {
    const b1 = min(c1, b0 + 2048);
    for (let i = 0; i < rows; i++) {
      const off = (<usize>i * <usize>D) << 2;
      const r = load<f32>(rstd + (<usize>i << 2));
      const r4 = f32x4.splat(r);
      let k = b0;
      for (; k + 4 <= b1; k += 4) {
        const o = <usize>k << 2;
        v128.store(dw + o, f32x4.add(v128.load(dw + o), f32x4.mul(f32x4.mul(v128.load(dy + off + o), v128.load(x + off + o)), r4)));
      }
      for (; k < b1; k++) {
        const o = <usize>k << 2;
        store<f32>(dw + o, load<f32>(dw + o) + load<f32>(dy + off + o) * load<f32>(x + off + o) * r);
      }
    }
  }
}
