// JS mirror of the dropout hash in kernels/as/dropout.ts (and its WGSL twin): u32 arithmetic only,
// with Math.imul for the wrapping multiplications.

export function fmix32(h: number): number {
  h >>>= 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** hash(seed, i) = fmix32((i * 0x9E3779B9) ^ fmix32(seed + 0x6A09E667)), all mod 2^32. */
export function dropoutHash(seed: number, i: number): number {
  const key = fmix32((seed + 0x6a09e667) >>> 0);
  return fmix32((Math.imul(i, 0x9e3779b9) ^ key) >>> 0);
}

/** The mask the kernels must produce: u = (hash >> 8) * 2^-24 >= p (p as f32) ? f32(1 / (1 - p)) : 0. */
export function dropoutMaskRef(n: number, p: number, seed: number): Float32Array {
  const pf = Math.fround(p);
  const scale = Math.fround(1 / Math.fround(1 - pf));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = (dropoutHash(seed >>> 0, i) >>> 8) * 2 ** -24;
    out[i] = u >= pf ? scale : 0;
  }
  return out;
}
