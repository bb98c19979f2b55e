// Dropout masks over Tensors. The mask is a deterministic function of (seed, index) (hash in
// kernels/as/dropout.ts), identical on every backend, so a step can be replayed exactly.
import { Tensor, expectDType, expectShape } from '../tensor.ts';

/**
 * mask[i] = 1/(1-p) with probability 1-p, else 0; p in [0, 1). With `rows` (i32 [R]), mask is
 * [R, width] and holds rows rows[r] of the mask a whole [*, width] tensor would get from the same
 * seed (a forward that computes some rows only draws the masks of the rows it keeps).
 */
export function dropoutMask(mask: Tensor, p: number, seed: number, rows?: Tensor | null): void {
  expectDType('dropoutMask mask', mask, 'f32');
  if (!(p >= 0 && p < 1)) throw new Error(`dropoutMask: p must be in [0, 1), got ${p}`);
  if (!Number.isInteger(seed)) throw new Error(`dropoutMask: seed must be an integer, got ${seed}`);
  if (rows) {
    expectDType('dropoutMask rows', rows, 'i32');
    expectShape('dropoutMask rows', rows, [-1]);
    const R = rows.shape[0];
    if (mask.shape.length !== 2 || mask.shape[0] !== R) throw new Error(`dropoutMask: mask must be [${R}, width] for ${R} rows, got [${mask.shape.join(', ')}]`);
    if (mask.size === 0) return;
    mask.backend.dropoutMask(mask.buf, mask.size, p, seed >>> 0, { index: rows.buf, width: mask.shape[1] });
    return;
  }
  mask.backend.dropoutMask(mask.buf, mask.size, p, seed >>> 0);
}
