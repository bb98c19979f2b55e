// Bias-add: y[i, :] += b, the bias of a linear layer added into its product (OPT has one on every
// projection; Qwen2 on q/k/v). WGSL twin: kernels/wgsl/bias_add.wgsl. Only the forward exists: the
// gradient into y passes through unchanged, and the biases are frozen (no dB is ever asked for).
import { chunkStart, chunkEnd } from './common/threads';

/** y [rows, D] += b [D] per row; threads split the rows. */
export function bias_add(y: usize, b: usize, rows: i32, D: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart(rows, tid, nthreads), e = chunkEnd(rows, tid, nthreads);
  for (let i = s; i < e; i++) {
    const yr = y + ((<usize>i * <usize>D) << 2);
    let k = 0;
    for (; k + 4 <= D; k += 4) {
      const o = <usize>k << 2;
      v128.store(yr + o, f32x4.add(v128.load(yr + o), v128.load(b + o)));
    }
    for (; k < D; k++) {
      const o = <usize>k << 2;
      store<f32>(yr + o, load<f32>(yr + o) + load<f32>(b + o));
    }
  }
}
