// LayerNorm with weight and bias (torch.nn.LayerNorm, f32) and its backward. WGSL twin:
// kernels/wgsl/layernorm.wgsl.
//   mean_i = sum_k x_ik / D,  rstd_i = 1/sqrt(sum_k (x_ik - mean_i)^2 / D + eps)   (biased variance, two passes)
//   y_ik   = ((x_ik - mean_i) * rstd_i) * w_k + b_k
// The backward writes dX only: OPT's norms are frozen under LoRA, so no dW or dB is ever asked for.
//   g_ik  = dy_ik w_k,  a_i = sum_k g_ik / D,  c_i = rstd_i^2 * sum_k g_ik (x_ik - mean_i) / D
//   dx_ik = rstd_i * (g_ik - a_i - (x_ik - mean_i) * c_i)
import { chunkStart, chunkEnd } from './common/threads';

@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Writes out, mean and rstd; threads split the rows (each row's outputs belong to one thread). */
export function layernorm(out: usize, mean: usize, rstd: usize, x: usize, w: usize, b: usize, rows: i32, D: i32, eps: f32,
  tid: i32, nthreads: i32): void {
  const s = chunkStart(rows, tid, nthreads), e = chunkEnd(rows, tid, nthreads);
  const invD: f32 = 1.0 / <f32>D;
  for (let i = s; i < e; i++) {
    const xr = x + ((<usize>i * <usize>D) << 2), yr = out + ((<usize>i * <usize>D) << 2);
    // Two vector accumulators: 8 partial sums keep the f32 rounding error small for wide rows.
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let k = 0;
    for (; k + 8 <= D; k += 8) {
      a0 = f32x4.add(a0, v128.load(xr + (<usize>k << 2)));
      a1 = f32x4.add(a1, v128.load(xr + (<usize>k << 2), 16));
    }
    let sum = hsum(f32x4.add(a0, a1));
    for (; k < D; k++) sum += load<f32>(xr + (<usize>k << 2));
    const m: f32 = sum * invD;
    const m4 = f32x4.splat(m);
    a0 = f32x4.splat(0); a1 = f32x4.splat(0);
    k = 0;
    for (; k + 8 <= D; k += 8) {
      const d0 = f32x4.sub(v128.load(xr + (<usize>k << 2)), m4), d1 = f32x4.sub(v128.load(xr + (<usize>k << 2), 16), m4);
      a0 = f32x4.add(a0, f32x4.mul(d0, d0));
      a1 = f32x4.add(a1, f32x4.mul(d1, d1));
    }
    let ss = hsum(f32x4.add(a0, a1));
    for (; k < D; k++) { const d = load<f32>(xr + (<usize>k << 2)) - m; ss += d * d; }
    const r: f32 = 1.0 / Mathf.sqrt(ss * invD + eps);
    store<f32>(mean + (<usize>i << 2), m);
    store<f32>(rstd + (<usize>i << 2), r);
    const r4 = f32x4.splat(r);
    k = 0;
    for (; k + 4 <= D; k += 4) {
      const o = <usize>k << 2;
      const xh = f32x4.mul(f32x4.sub(v128.load(xr + o), m4), r4);
      v128.store(yr + o, f32x4.add(f32x4.mul(xh, v128.load(w + o)), v128.load(b + o)));
    }
    for (; k < D; k++) {
      const o = <usize>k << 2;
      store<f32>(yr + o, ((load<f32>(xr + o) - m) * r) * load<f32>(w + o) + load<f32>(b + o));
    }
  }
}

/** Writes dX; threads split the rows. */
export function layernorm_backward(dx: usize, dy: usize, x: usize, w: usize, mean: usize, rstd: usize, rows: i32, D: i32,
  tid: i32, nthreads: i32): void {
  const s = chunkStart(rows, tid, nthreads), e = chunkEnd(rows, tid, nthreads);
  const invD: f32 = 1.0 / <f32>D;
  for (let i = s; i < e; i++) {
    const off = (<usize>i * <usize>D) << 2;
    const xr = x + off, dyr = dy + off, dxr = dx + off;
    const m = load<f32>(mean + (<usize>i << 2)), r = load<f32>(rstd + (<usize>i << 2));
    const m4 = f32x4.splat(m);
    let sg = f32x4.splat(0), sgx = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= D; k += 4) {
      const o = <usize>k << 2;
      const g = f32x4.mul(v128.load(dyr + o), v128.load(w + o));
      sg = f32x4.add(sg, g);
      sgx = f32x4.add(sgx, f32x4.mul(g, f32x4.sub(v128.load(xr + o), m4)));
    }
    let sumG = hsum(sg), sumGX = hsum(sgx);
    for (; k < D; k++) {
      const o = <usize>k << 2;
      const g = load<f32>(dyr + o) * load<f32>(w + o);
      sumG += g;
      sumGX += g * (load<f32>(xr + o) - m);
    }
    const a: f32 = sumG * invD, c: f32 = r * r * sumGX * invD;
    const a4 = f32x4.splat(a), c4 = f32x4.splat(c), r4 = f32x4.splat(r);
    k = 0;
    for (; k + 4 <= D; k += 4) {
      const o = <usize>k << 2;
      const g = f32x4.mul(v128.load(dyr + o), v128.load(w + o));
      const t = f32x4.sub(f32x4.sub(g, a4), f32x4.mul(f32x4.sub(v128.load(xr + o), m4), c4));
      v128.store(dxr + o, f32x4.mul(r4, t));
    }
    for (; k < D; k++) {
      const o = <usize>k << 2;
      const g = load<f32>(dyr + o) * load<f32>(w + o);
      store<f32>(dxr + o, r * ((g - a) - (load<f32>(xr + o) - m) * c));
    }
  }
}
