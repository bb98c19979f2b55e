// Rotary position embedding, in place, and its inverse (= the backward, since a rotation's
// transpose is the rotation by -angle). WGSL twin: kernels/wgsl/rope.wgsl.
// x is [rows, H, hd]; row i sits at position pos0 + (i mod T); cos/sin are [maxPos, hd/2].
//   interleaved (llama2.c): pairs (2j, 2j+1);  rotate-half (Hugging Face): pairs (j, j + hd/2).
//   (a, b) -> (a cos - b sin, b cos + a sin)
import { chunkStart, chunkEnd } from './common/threads';

/** Threads split the rows * H head vectors. */
export function rope(x: usize, cos: usize, sin: usize, rows: i32, T: i32, H: i32, hd: i32, pos0: i32,
  interleaved: i32, inverse: i32, tid: i32, nthreads: i32): void {
  const units = rows * H;
  const s = chunkStart(units, tid, nthreads), e = chunkEnd(units, tid, nthreads);
  const half = hd >> 1;
  const sgn: f32 = inverse ? -1.0 : 1.0;
  const sgn4 = f32x4.splat(sgn);
  // For interleaved pairs, [a0 b0 a1 b1] * [c0 c0 c1 c1] + [b0 a0 b1 a1] * [-s0 s0 -s1 s1].
  const alt = f32x4(-1.0, 1.0, -1.0, 1.0);
  for (let u = s; u < e; u++) {
    const row = u / H;
    const pos = pos0 + row % T;
    const cr = cos + ((<usize>pos * <usize>half) << 2), sr = sin + ((<usize>pos * <usize>half) << 2);
    const v = x + ((<usize>u * <usize>hd) << 2);
    let j = 0;
    if (interleaved) {
      for (; j + 2 <= half; j += 2) {
        // two pairs per vector: 2 lanes of cos/sin each
        const xv = v128.load(v + (<usize>j << 3));
        const c2 = v128.load64_zero(cr + (<usize>j << 2));
        const s2 = f32x4.mul(v128.load64_zero(sr + (<usize>j << 2)), sgn4);
        const cc = v128.shuffle<f32>(c2, c2, 0, 0, 1, 1);
        const ss = f32x4.mul(v128.shuffle<f32>(s2, s2, 0, 0, 1, 1), alt);
        const sw = v128.shuffle<f32>(xv, xv, 1, 0, 3, 2);
        v128.store(v + (<usize>j << 3), f32x4.add(f32x4.mul(xv, cc), f32x4.mul(sw, ss)));
      }
      for (; j < half; j++) {
        const c = load<f32>(cr + (<usize>j << 2)), sn = sgn * load<f32>(sr + (<usize>j << 2));
        const pa = v + (<usize>j << 3);
        const a = load<f32>(pa), b = load<f32>(pa, 4);
        store<f32>(pa, a * c - b * sn);
        store<f32>(pa, b * c + a * sn, 4);
      }
    } else {
      const hb = <usize>half << 2;
      for (; j + 4 <= half; j += 4) {
        const o = <usize>j << 2;
        const a = v128.load(v + o), b = v128.load(v + hb + o);
        const c = v128.load(cr + o), sn = f32x4.mul(v128.load(sr + o), sgn4);
        v128.store(v + o, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, sn)));
        v128.store(v + hb + o, f32x4.add(f32x4.mul(b, c), f32x4.mul(a, sn)));
      }
      for (; j < half; j++) {
        const o = <usize>j << 2;
        const a = load<f32>(v + o), b = load<f32>(v + hb + o);
        const c = load<f32>(cr + o), sn = sgn * load<f32>(sr + o);
        store<f32>(v + o, a * c - b * sn);
        store<f32>(v + hb + o, b * c + a * sn);
      }
    }
  }
}
