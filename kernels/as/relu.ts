// ReLU (OPT's MLP activation) and its backward. WGSL twin: kernels/wgsl/relu.wgsl.
//   out = max(x, 0) (NaN stays NaN, as torch.relu);  dx = dy where x > 0, else 0 (torch's choice at x = 0)
import { chunkStart, chunkEnd } from './common/threads';

/** out = max(x, 0); threads split the n elements, and vector stores stay inside a thread's chunk. */
export function relu(out: usize, x: usize, n: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart(n, tid, nthreads), e = chunkEnd(n, tid, nthreads);
  const zero = f32x4.splat(0);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.max(v128.load(x + o), zero));
  }
  for (; i < e; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, Mathf.max(load<f32>(x + o), 0));
  }
}

/** dx = dy * (x > 0) (written); x is the forward's input. */
export function relu_backward(dx: usize, dy: usize, x: usize, n: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart(n, tid, nthreads), e = chunkEnd(n, tid, nthreads);
  const zero = f32x4.splat(0);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(x + o), zero)));
  }
  for (; i < e; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(x + o) > 0 ? load<f32>(dy + o) : 0);
  }
}
