// exp on the 4 f32 lanes of a v128 (Cephes expf scheme), for the softmax and sigmoid kernels:
// n = round(x log2 e), r = x - n ln2 (ln2 split in two for exactness), e^r by a degree-7
// polynomial on |r| <= ln2/2 (about 1 ulp), times 2^n built directly in the exponent bits.
// Inputs below -87 give exactly 0 (so a masked score of -inf gives p = 0); inputs are clamped
// at 88 (exp(88) = 1.65e38), so nothing overflows to inf or NaN.
// Speed: pmin/pmax are single instructions (min/max with NaN rules are not), and adding
// 1.5 * 2^23 rounds to the nearest integer and leaves it in the low mantissa bits, which
// replaces a nearest + trunc_sat pair.
@inline export function exp4(x: v128): v128 {
  const lo = f32x4.splat(-87.0);
  const xc = f32x4.pmin(f32x4.pmax(x, lo), f32x4.splat(88.0));
  const shifter = f32x4.splat(12582912.0); // 1.5 * 2^23
  const t = f32x4.add(f32x4.mul(xc, f32x4.splat(1.44269504088896341)), shifter);
  const n = f32x4.sub(t, shifter);
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(y, r), r), r), f32x4.splat(1.0));
  const pow2n = i32x4.shl(i32x4.add(t, i32x4.splat(127 - 0x4B400000)), 23);
  return v128.andnot(f32x4.mul(y, pow2n), f32x4.lt(x, lo));
}
