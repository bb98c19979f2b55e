// Elementwise helpers of the WASM backend: fill, axpy, scale and scale_by_inverse_norm
// (Vaccine's normalisation by a global norm). WGSL twin: kernels/wgsl/elementwise.wgsl.
// Every kernel takes (…, tid, nthreads) and handles its own chunk, in whole groups of 4
// (chunkStart4); pointers are byte offsets.
import { chunkStart4, chunkEnd4 } from './common/threads';

/** Where the JS-side allocator may start handing out memory. */
export function heap_base(): usize {
  return __heap_base;
}

export function fill(buf: usize, value: f32, n: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart4(n, tid, nthreads), e = chunkEnd4(n, tid, nthreads);
  const v = f32x4.splat(value);
  let i = s;
  for (; i + 4 <= e; i += 4) v128.store(buf + (<usize>i << 2), v);
  for (; i < e; i++) store<f32>(buf + (<usize>i << 2), value);
}

/** y += alpha * x */
export function axpy(y: usize, x: usize, alpha: f32, n: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart4(n, tid, nthreads), e = chunkEnd4(n, tid, nthreads);
  const a = f32x4.splat(alpha);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(a, v128.load(x + o))));
  }
  for (; i < e; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

/** out = alpha * x (out may be x) */
export function scale(out: usize, x: usize, alpha: f32, n: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart4(n, tid, nthreads), e = chunkEnd4(n, tid, nthreads);
  const a = f32x4.splat(alpha);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(a, v128.load(x + o)));
  }
  for (; i < e; i++) store<f32>(out + (<usize>i << 2), alpha * load<f32>(x + (<usize>i << 2)));
}

/** out = x * rho / (sqrt(s[0]) + eps), where s[0] holds a sum of squares. */
export function scale_by_inverse_norm(out: usize, x: usize, s: usize, rho: f32, eps: f32, n: i32, tid: i32, nthreads: i32): void {
  const norm = Mathf.sqrt(load<f32>(s));
  scale(out, x, rho / (norm + eps), n, tid, nthreads);
}
