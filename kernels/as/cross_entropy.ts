// Per-row cross-entropy over logits [N, V] and its backward. WGSL twin: kernels/wgsl/cross_entropy.wgsl.
// A label outside [0, V) is ignored like -100 (loss 0, zero gradient): that covers ignore_index
// and keeps a corrupt label from indexing outside the row.
import { chunkStart, chunkEnd } from './common/threads';
import { exp4 } from './common/exp4';

@inline function rowMax(row: usize, V: i32): f32 {
  let j = 0;
  let m4 = f32x4.splat(-Infinity);
  for (; j + 4 <= V; j += 4) m4 = f32x4.pmax(m4, v128.load(row + (<usize>j << 2)));
  let m = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
  for (; j < V; j++) m = max(m, load<f32>(row + (<usize>j << 2)));
  return m;
}

/**
 * sum_j exp(row_j - m). The sum is kept in f64 (two f64x2 lanes): V is a vocabulary of tens of
 * thousands of terms.
 */
@inline function sumExp(row: usize, m: f32, V: i32): f64 {
  const m4 = f32x4.splat(m);
  let acc = f64x2.splat(0);
  let j = 0;
  for (; j + 4 <= V; j += 4) {
    const o = <usize>j << 2;
    const e = exp4(f32x4.sub(v128.load(row + o), m4));
    acc = f64x2.add(acc, f64x2.add(f64x2.promote_low_f32x4(e), f64x2.promote_low_f32x4(v128.shuffle<f32>(e, e, 2, 3, 0, 1))));
  }
  let sum = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; j < V; j++) {
    const e = Mathf.exp(load<f32>(row + (<usize>j << 2)) - m);
    sum += <f64>e;
  }
  return sum;
}

/**
 * lse[i] = logsumexp(logits_i) (max-subtracted; kept for the backward) and
 * loss[i] = lse[i] - logits_i[labels[i]], 0 for ignored rows.
 */
export function cross_entropy(loss: usize, lse: usize, logits: usize, labels: usize, N: i32, V: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart(N, tid, nthreads), e = chunkEnd(N, tid, nthreads);
  for (let i = s; i < e; i++) {
    const label = load<i32>(labels + (<usize>i << 2));
    if (label < 0 || label >= V) { store<f32>(loss + (<usize>i << 2), 0); store<f32>(lse + (<usize>i << 2), 0); continue; }
    const row = logits + ((<usize>i * <usize>V) << 2);
    const m = rowMax(row, V);
    const sum = sumExp(row, m, V);
    const l = <f32>Math.log(sum) + m;
    store<f32>(lse + (<usize>i << 2), l);
    store<f32>(loss + (<usize>i << 2), l - load<f32>(row + (<usize>label << 2)));
  }
}

/**
 * dLogits = scale * (exp(logits - lse) - onehot(label)), from the forward's lse; ignored rows get
 * zeros. dlogits may be logits: each element is read before it is written.
 */
export function cross_entropy_backward(dlogits: usize, logits: usize, lse: usize, labels: usize, N: i32, V: i32, scale: f32, tid: i32, nthreads: i32): void {
  const s = chunkStart(N, tid, nthreads), e = chunkEnd(N, tid, nthreads);
  const sc = f32x4.splat(scale);
  for (let i = s; i < e; i++) {
    const label = load<i32>(labels + (<usize>i << 2));
    const drow = dlogits + ((<usize>i * <usize>V) << 2);
    if (label < 0 || label >= V) { memory.fill(drow, 0, <usize>V << 2); continue; }
    const row = logits + ((<usize>i * <usize>V) << 2);
    const l = load<f32>(lse + (<usize>i << 2));
    const l4 = f32x4.splat(l);
    let j = 0;
    for (; j + 4 <= V; j += 4) {
      const o = <usize>j << 2;
      v128.store(drow + o, f32x4.mul(exp4(f32x4.sub(v128.load(row + o), l4)), sc));
    }
    for (; j < V; j++) store<f32>(drow + (<usize>j << 2), Mathf.exp(load<f32>(row + (<usize>j << 2)) - l) * scale);
    const lo = drow + (<usize>label << 2);
    store<f32>(lo, load<f32>(lo) - scale);
  }
}
