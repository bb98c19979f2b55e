// Dropout masks over Tensors. The mask is a deterministic function of (seed, index) (hash in
// kernels/as/dropout.ts), identical on every backend, so a step can be replayed exactly.
import { Tensor, expectDType } from '../tensor.ts';

/** mask[i] = 1/(1-p) with probability 1-p, else 0; p in [0, 1). */
export function dropoutMask(mask: Tensor, p: number, seed: number): void {
  expectDType('dropoutMask mask', mask, 'f32');
  if (!(p >= 0 && p < 1)) throw new Error(`dropoutMask: p must be in [0, 1), got ${p}`);
  if (!Number.isInteger(seed)) throw new Error(`dropoutMask: seed must be an integer, got ${seed}`);
  mask.backend.dropoutMask(mask.buf, mask.size, p, seed >>> 0);
}
