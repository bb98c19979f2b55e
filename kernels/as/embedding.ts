// Embedding lookup and its backward (a scatter-add into the table). WGSL twin: kernels/wgsl/embedding.wgsl.
// Ids are not range-checked in the forward (V is not passed); the backward skips ids outside [0, V)
// so that a bad id can never write outside the gradient table.
import { chunkStart, chunkEnd } from './common/threads';

/** out[i, :] = table[ids[i], :]; threads split the N rows. */
export function embedding(out: usize, table: usize, ids: usize, N: i32, D: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart(N, tid, nthreads), e = chunkEnd(N, tid, nthreads);
  const rowBytes = <usize>D << 2;
  for (let i = s; i < e; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    memory.copy(out + <usize>i * rowBytes, table + <usize>id * rowBytes, rowBytes);
  }
}

/**
 * dTable[ids[i], :] += dOut[i, :]. Several rows may share an id, so threads split the D columns
 * (in groups of 4 for SIMD) and each walks every row: no two threads touch the same element.
 */
export function embedding_backward(dtable: usize, dout: usize, ids: usize, N: i32, D: i32, V: i32, tid: i32, nthreads: i32): void {
  const groups = (D + 3) >> 2;
  const c0 = chunkStart(groups, tid, nthreads) << 2;
  const c1 = min(D, chunkEnd(groups, tid, nthreads) << 2);
  if (c0 >= c1) return;
  const rowBytes = <usize>D << 2;
  for (let i = 0; i < N; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    if (id < 0 || id >= V) continue;
    const dst = dtable + <usize>id * rowBytes, src = dout + <usize>i * rowBytes;
    let c = c0;
    for (; c + 4 <= c1; c += 4) {
      const o = <usize>c << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
    for (; c < c1; c++) {
      const o = <usize>c << 2;
      store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
    }
  }
}
