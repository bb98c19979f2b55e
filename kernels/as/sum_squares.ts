// sum of squares in fixed blocks: partials (f64) [b] = sum of x[i]^2 over block b, elements
// [b * SUM_BLOCK, (b + 1) * SUM_BLOCK). Threads split the blocks; the backend adds the partials
// in block order (WasmBackend.sumSquares). The blocks do not depend on the thread count, so
// neither does the total. Inside a block, f32x4 lanes accumulate runs of LANE_RUN elements and
// each run goes into an f64 sum: f32 rounding error stays bounded by the run length, not by n.
import { chunkStart, chunkEnd } from './common/threads';

const SUM_BLOCK = 16384;
const LANE_RUN = 256;

/** Elements per partial sum: the backend needs ceil(n / sum_squares_block()) f64 partials. */
export function sum_squares_block(): i32 {
  return SUM_BLOCK;
}

export function sum_squares_partial(partials: usize, x: usize, n: i32, tid: i32, nthreads: i32): void {
  const blocks = (n + SUM_BLOCK - 1) / SUM_BLOCK;
  const b1 = chunkEnd(blocks, tid, nthreads);
  for (let b = chunkStart(blocks, tid, nthreads); b < b1; b++) {
    const e = min(n, (b + 1) * SUM_BLOCK);
    let total: f64 = 0;
    let i = b * SUM_BLOCK;
    while (i + 4 <= e) {
      const runEnd = min(e, i + LANE_RUN);
      let acc = f32x4.splat(0);
      for (; i + 4 <= runEnd; i += 4) {
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
    store<f64>(partials + (<usize>b << 3), total);
  }
}
