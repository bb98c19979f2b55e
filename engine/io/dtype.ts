// Conversions between f32 and the 16-bit float formats found in checkpoints.

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** IEEE half (as its 16 bits) -> f32 value; exact for every half, including subnormals, inf and NaN. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** f32 value -> IEEE half bits, round to nearest even (overflow -> inf). */
export function f32ToF16Bits(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the full significand into place, rounding to nearest even.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++; // a carry into the exponent is still correct
  return sign | r;
}

/** bfloat16 bits -> f32: bf16 is the top half of an f32. */
export function bf16BitsToF32(b: number): number {
  u32buf[0] = (b & 0xffff) << 16;
  return f32buf[0];
}

/** f32 -> bfloat16 bits, round to nearest even (NaN stays NaN). */
export function f32ToBf16Bits(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff)) return ((u >>> 16) | 0x40) & 0xffff;
  const r = u + 0x7fff + ((u >>> 16) & 1);
  return (r >>> 16) & 0xffff;
}

/** Little-endian f16 bytes -> f32 array. */
export function f16ToF32Array(bytes: Uint8Array): Float32Array {
  const n = bytes.length >> 1;
  const out = new Float32Array(n);
  const table = f16Table();
  for (let i = 0; i < n; i++) out[i] = table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
  return out;
}

/** Little-endian bf16 bytes -> f32 array. */
export function bf16ToF32Array(bytes: Uint8Array): Float32Array {
  const n = bytes.length >> 1;
  const out = new Float32Array(n);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) u[i] = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16;
  return out;
}

/** f32 array -> little-endian f16 bytes. */
export function f32ToF16Array(x: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(x.length * 2);
  for (let i = 0; i < x.length; i++) {
    const h = f32ToF16Bits(x[i]);
    out[2 * i] = h & 0xff; out[2 * i + 1] = h >> 8;
  }
  return out;
}

/** f32 array -> little-endian bf16 bytes. */
export function f32ToBf16Array(x: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(x.length * 2);
  for (let i = 0; i < x.length; i++) {
    const h = f32ToBf16Bits(x[i]);
    out[2 * i] = h & 0xff; out[2 * i + 1] = h >> 8;
  }
  return out;
}

// All 65536 halves decoded once: a table lookup is far faster than decoding per element.
let table16: Float32Array | null = null;
function f16Table(): Float32Array {
  if (!table16) {
    table16 = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table16[h] = f16BitsToF32(h);
  }
  return table16;
}
