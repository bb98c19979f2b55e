// dropout mask: mask[i] = u(seed, i) >= p ? 1/(1-p) : 0, for i < n. WGSL twin: kernels/wgsl/dropout.wgsl.
//
// The hash is defined on u32 with wrapping multiplication only, so WGSL reproduces it bit for bit
// (JS mirror: test/reference/dropout_hash.ts):
//   fmix32(x)  = murmur3's finaliser: x ^= x >> 16; x *= 0x85EBCA6B; x ^= x >> 13; x *= 0xC2B2AE35; x ^= x >> 16
//   key(seed)  = fmix32(seed + 0x6A09E667)             (so seed 0 is not special)
//   hash(seed, i) = fmix32((i * 0x9E3779B9) ^ key(seed))
//   u(seed, i) = f32(hash >> 8) * 2^-24                 (exact in f32: 24 bits, a power-of-two scale)
// keep iff u >= p (p as f32); a kept element is scale = f32(1) / (f32(1) - p) in f32 arithmetic
// (equal to Math.fround(1 / Math.fround(1 - p)) for f32 p). u is hash / 2^32 truncated to 24 bits
// so that the comparison is exact on every backend; p = 0 keeps everything with scale 1.
import { chunkStart, chunkEnd } from './common/threads';

@inline function fmix32(h: u32): u32 {
  h ^= h >> 16;
  h *= 0x85EBCA6B;
  h ^= h >> 13;
  h *= 0xC2B2AE35;
  h ^= h >> 16;
  return h;
}

@inline function fmix32x4(h: v128): v128 {
  h = v128.xor(h, i32x4.shr_u(h, 16));
  h = i32x4.mul(h, i32x4.splat(0x85EBCA6B));
  h = v128.xor(h, i32x4.shr_u(h, 13));
  h = i32x4.mul(h, i32x4.splat(0xC2B2AE35));
  h = v128.xor(h, i32x4.shr_u(h, 16));
  return h;
}

/**
 * index == 0: the hash of element i is hash(seed, i). Otherwise the mask is [n / width, width] and
 * element (r, j) takes hash(seed, index[r] * width + j) (index: i32 rows): the value a whole
 * [*, width] mask has at row index[r], for a forward that computes some rows only. Four elements
 * of a row at a time (the same integer ops lane-wise, so the same bits as one at a time).
 *
 * The test u >= p runs on the integer hash: u = (hash >> 8) 2^-24 exactly, so u >= p iff
 * (hash >> 8) >= ceil(p 2^24) iff hash >= ceil(p 2^24) 2^8 (unsigned; p < 1 keeps it below 2^32).
 * That is the same decision as the float comparison, without the conversion.
 */
export function dropout_mask(mask: usize, n: i32, p: f32, seed: u32, index: usize, width: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart(n, tid, nthreads), e = chunkEnd(n, tid, nthreads);
  const key = fmix32(seed + 0x6A09E667);
  const scale: f32 = <f32>1 / (<f32>1 - p);
  const keepFrom = <u32>Math.ceil(<f64>p * 16777216.0) << 8; // keep iff hash >= keepFrom
  const w = index ? width : max(n, 1); // without an index the mask is one row
  const key4 = i32x4.splat(key), step4 = i32x4.splat(0x78DDE6E4 /* 4 * 0x9E3779B9 mod 2^32 */), keep4 = i32x4.splat(keepFrom);
  const scale4 = f32x4.splat(scale);
  let i = s;
  while (i < e) {
    const r = i / w, j = i - r * w;
    const end = min(e, i + (w - j));
    // positions at = base + j .. of the elements i .. end-1
    let at: u32 = <u32>((index ? load<i32>(index + (<usize>r << 2)) * width : r * w) + j);
    // at * golden for four lanes, stepped by 4 * golden (wrapping, so equal to the product)
    let g4 = i32x4.mul(i32x4.add(i32x4.splat(at), i32x4(0, 1, 2, 3)), i32x4.splat(0x9E3779B9));
    for (; i + 4 <= end; i += 4, at += 4) {
      const h = fmix32x4(v128.xor(g4, key4));
      v128.store(mask + (<usize>i << 2), v128.and(scale4, i32x4.ge_u(h, keep4)));
      g4 = i32x4.add(g4, step4);
    }
    for (; i < end; i++, at++) {
      const h = fmix32((at * 0x9E3779B9) ^ key);
      store<f32>(mask + (<usize>i << 2), h >= keepFrom ? scale : 0);
    }
  }
}
