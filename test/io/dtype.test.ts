// f16/bf16 <-> f32 conversions against bit patterns fixed by the IEEE 754 and bfloat16 formats.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../engine/io/dtype.ts';

// [half bits, value] pairs from the binary16 definition.
const F16_KNOWN: Array<[number, number]> = [
  [0x0000, 0], [0x8000, -0], [0x3c00, 1], [0xc000, -2], [0x3555, 0.333251953125], [0x7bff, 65504],
  [0x0400, 2 ** -14], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x7c00, Infinity], [0xfc00, -Infinity],
  [0x3e00, 1.5], [0x4248, 3.140625],
];

test('f16 bits decode to their exact values (exact)', () => {
  for (const [bits, value] of F16_KNOWN) assert.is(Object.is(f16BitsToF32(bits), value), true, `0x${bits.toString(16)}`);
  assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
});

test('f32 -> f16 encodes exact values exactly and rounds to nearest even', () => {
  for (const [bits, value] of F16_KNOWN) assert.is(f32ToF16Bits(value), bits, String(value));
  assert.is(f32ToF16Bits(1 + 2 ** -11), 0x3c00);      // halfway, tie to even (down)
  assert.is(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02);  // halfway, tie to even (up)
  assert.is(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20), 0x3c01); // above halfway
  assert.is(f32ToF16Bits(65520), 0x7c00);             // rounds past the largest half: inf
  assert.is(f32ToF16Bits(2 ** -25), 0x0000);          // halfway to the smallest subnormal: even (0)
  assert.is(f32ToF16Bits(1.5 * 2 ** -25), 0x0001);
  assert.is(f32ToF16Bits(3 * 2 ** -25), 0x0002);      // 1.5 ulp of subnormals: tie to even (2)
  assert.is(f32ToF16Bits(1e-10), 0x0000);
  assert.is(f32ToF16Bits(NaN) & 0x7c00, 0x7c00);
});

test('every non-NaN half survives f16 -> f32 -> f16 (exhaustive)', () => {
  for (let h = 0; h < 65536; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff)) continue;
    if (f32ToF16Bits(f16BitsToF32(h)) !== h) assert.unreachable(`0x${h.toString(16)}`);
  }
});

test('bf16: known bit patterns and round to nearest even', () => {
  const known: Array<[number, number]> = [[0x3f80, 1], [0xc000, -2], [0x4049, 3.140625], [0x7f80, Infinity], [0x0000, 0], [0x8000, -0]];
  for (const [bits, value] of known) {
    assert.is(Object.is(bf16BitsToF32(bits), value), true, `decode 0x${bits.toString(16)}`);
    assert.is(f32ToBf16Bits(value), bits, `encode ${value}`);
  }
  assert.is(f32ToBf16Bits(Math.PI), 0x4049);          // 3.14159... -> 3.140625
  assert.is(f32ToBf16Bits(1 + 2 ** -8), 0x3f80);       // halfway: tie to even (down)
  assert.is(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);   // halfway: tie to even (up)
  assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))));
  for (let b = 0; b < 65536; b++) {
    if ((b & 0x7f80) === 0x7f80 && (b & 0x7f)) continue;
    if (f32ToBf16Bits(bf16BitsToF32(b)) !== b) assert.unreachable(`0x${b.toString(16)}`);
  }
});

test.run();
