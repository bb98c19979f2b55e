// LoRA on the WASM backend: y += scale * B A (x ∘ mask), A [r, in] (PEFT layout), B [out, r],
// mask the dropout mask [T, in] (already scaled by 1/(1-p)), pointer 0 meaning no dropout.
// WGSL twin: kernels/wgsl/lora.wgsl (which leaves the plain products to matmul.wgsl).
//
// The whole op takes three dispatches instead of six (each wake-up of the pool costs tens of
// microseconds, as much as the arithmetic on a small model's 1000 x 64 x 8 products):
// - lora_forward: U = (X ∘ mask) A^T and Y += scale U B^T, threads split the rows;
// - lora_backward_rows: dU = scale dY B and dX += (dU A) ∘ mask, threads split the rows;
// - lora_backward_grads: dA += dU^T (X ∘ mask) and dB += scale dY^T U, reductions over all T
//   rows; threads split the columns of dA and the rows of dB, so each owns whole sums.
// r is small (1..64 in practice), so the loops over r sit inside the loops over in/out.
//
// Determinism: every element of every output gets the same operations in the same order whatever
// the thread count. Blocks of 4 rows (or columns) and the rows left over take the same per-element
// sequence of madd; only the last in % 4, out % 4 or r % 4 columns, fixed by the shape, go one by
// one.
//
// The pieces: lora/forward.ts (U, then Y), lora/rows.ts (dU, then dX), lora/grads.ts (dA, dB),
// and lora/tile.ts, the register tiles the row kernels share.
import { chunkStart, chunkEnd } from './common/threads';
import { SCRATCH_SLICE_BYTES } from './common/scratch';
import { forwardU, forwardY } from './lora/forward';
import { backwardDU, backwardDX1, backwardDX4 } from './lora/rows';
import { gradA, gradB } from './lora/grads';

/**
 * U[T,r] = (X ∘ mask) A^T (written) and Y[T,out] += scale U B^T (added into). Threads split the
 * rows. Each computes its rows of U, then their rows of Y from a transposed copy of B,
 * Bt[j, c] = B[c, j] (zero-padded to whole vectors), in its slice of the kernels' scratch
 * (common/scratch.ts); a B whose copy does not fit goes in column blocks that do.
 */
export function lora_forward(y: usize, u: usize, x: usize, a: usize, b: usize, mask: usize,
  T: i32, inF: i32, outF: i32, r: i32, scale: f32, scratch: usize, tid: i32, nthreads: i32): void {
  const t0 = chunkStart(T, tid, nthreads), t1 = chunkEnd(T, tid, nthreads);
  if (t0 >= t1 || r <= 0) return;
  forwardU(u, x, a, mask, t0, t1, inF, r);
  const bt = scratch + <usize>tid * SCRATCH_SLICE_BYTES;
  const nc = min(max((<i32>(SCRATCH_SLICE_BYTES >> 2) / r) & ~7, 8), (outF + 7) & ~7); // columns per block, whole 8s
  for (let n0 = 0; n0 < outF; n0 += nc) {
    const n1 = min(outF, n0 + nc), w = (n1 - n0 + 3) & ~3;
    for (let j = 0; j < r; j++) {
      const row = bt + (<usize>(j * w) << 2);
      for (let c = 0; c < w; c++) {
        store<f32>(row + (<usize>c << 2), n0 + c < n1 ? load<f32>(b + (<usize>((n0 + c) * r + j) << 2)) : 0);
      }
    }
    forwardY(y, u, bt, t0, t1, outF, r, n0, n1, w, scale);
  }
}


/**
 * dU[T,r] = scale dY B (written) and dX[T,in] += (dU A) ∘ mask (added into). Threads split the
 * rows; blocks of 4 rows, the rows left over one at a time with the same operations.
 */
export function lora_backward_rows(dx: usize, du: usize, dy: usize, a: usize, b: usize, mask: usize,
  T: i32, inF: i32, outF: i32, r: i32, scale: f32, tid: i32, nthreads: i32): void {
  const t0 = chunkStart(T, tid, nthreads), t1 = chunkEnd(T, tid, nthreads);
  if (t0 >= t1 || r <= 0) return;
  let t = t0;
  for (; t + 4 <= t1; t += 4) {
    backwardDU(du, dy, b, t, 4, outF, r, scale);
    backwardDX4(dx, du, a, mask, t, inF, r);
  }
  for (; t < t1; t++) {
    backwardDU(du, dy, b, t, 1, outF, r, scale);
    backwardDX1(dx, du, a, mask, t, inF, r);
  }
}


/**
 * dA[r,in] += dU^T (X ∘ mask) and dB[out,r] += scale dY^T U (either pointer 0: skipped), sums
 * over all T rows. Threads split the columns of dA and the rows of dB in groups of four, so each
 * owns whole sums and the thread count changes no bit.
 */
export function lora_backward_grads(da: usize, db: usize, du: usize, dy: usize, x: usize, u: usize, mask: usize,
  T: i32, inF: i32, outF: i32, r: i32, scale: f32, tid: i32, nthreads: i32): void {
  if (r <= 0) return;
  if (da) gradA(da, du, x, mask, T, inF, r, tid, nthreads);
  if (db) gradB(db, dy, u, T, outF, r, scale, tid, nthreads);
}

