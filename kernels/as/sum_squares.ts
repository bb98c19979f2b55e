// sum of squares, per-thread partial: partials (f64) [tid] = sum of x[i]^2 over this thread's chunk.
// The backend adds the partials in tid order (WasmBackend.sumSquares), so the total does not
// depend on timing. f32x4 lanes accumulate blocks of BLOCK elements, each block then goes into
// an f64 sum: f32 rounding error stays bounded by the block length, not by n.
import { chunkStart, chunkEnd } from './common/threads';

const BLOCK = 256;

export function sum_squares_partial(partials: usize, x: usize, n: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart(n, tid, nthreads), e = chunkEnd(n, tid, nthreads);
  let total: f64 = 0;
  let i = s;
  while (i + 4 <= e) {
    const blockEnd = min(e, i + BLOCK);
    let acc = f32x4.splat(0);
    for (; i + 4 <= blockEnd; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      acc = f32x4.add(acc, f32x4.mul(v, v));
    }
    total += <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1)
      + <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
  }
  for (; i < e; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    total += v * v;
  }
  store<f64>(partials + (<usize>tid << 3), total);
}
