// LoRA's backward over rows on WASM, for lora_backward_rows (kernels/as/lora.ts):
// dU = scale dY B, then dX += (dU A) ∘ mask, for a block of 4 rows or one row.
import { tile1x4, tile4x4, tile4x8, MASK_ADD, SCALE_STORE } from '../common/tile';

/**
 * dU rows t..t+rows (rows 4 or 1): dU[t,j] = scale * (sum over o of dY[t,o] B[o,j], madd, o in
 * order); j in tiles of 8 then 4 (4 rows) or 4 (one row), the last r % 4 one at a time.
 */
@inline export function backwardDU(du: usize, dy: usize, b: usize, t: i32, rows: i32, outF: i32, r: i32, scale: f32): void {
  const ldy = <usize>outF << 2, ldu = <usize>r << 2;
  const s4 = f32x4.splat(scale);
  const dy0 = dy + <usize>t * ldy, du0 = du + <usize>t * ldu;
  let j = 0;
  if (rows == 4) {
    for (; j + 8 <= r; j += 8) tile4x8(SCALE_STORE, dy0, ldy, 4, b + (<usize>j << 2), ldu, outF, du0 + (<usize>j << 2), ldu, s4, 8, false, 0);
    for (; j + 4 <= r; j += 4) tile4x4(SCALE_STORE, dy0, ldy, 4, b + (<usize>j << 2), ldu, outF, du0 + (<usize>j << 2), ldu, s4, 4, false, 0);
  } else {
    for (; j + 4 <= r; j += 4) tile1x4(SCALE_STORE, dy0, 4, b + (<usize>j << 2), ldu, outF, du0 + (<usize>j << 2), s4, 4, false, 0);
  }
  for (; j < r; j++) {
    for (let k = 0; k < rows; k++) {
      const py = dy0 + <usize>k * ldy;
      let s: f32 = 0;
      for (let o = 0; o < outF; o++) s += load<f32>(py + (<usize>o << 2)) * load<f32>(b + (<usize>(o * r + j) << 2));
      store<f32>(du0 + <usize>k * ldu + (<usize>j << 2), scale * s);
    }
  }
}


/**
 * dX rows t..t+4 += (dU A) ∘ mask: per element, madd over j in order, times the mask, added.
 * Tiles of 4 rows x 8 columns (each splat of dU serves two vectors of A), then 4 x 4.
 */
export function backwardDX4(dx: usize, du: usize, a: usize, mask: usize, t: i32, inF: i32, r: i32): void {
  const ld = <usize>inF << 2, ldu = <usize>r << 2;
  const dx0 = dx + <usize>t * ld, m0 = mask + <usize>t * ld, du0 = du + <usize>t * ldu;
  const s4 = f32x4.splat(0); // unused by MASK_ADD
  let i = 0;
  for (; i + 8 <= inF; i += 8) tile4x8(MASK_ADD, du0, ldu, 4, a + (<usize>i << 2), ld, r, dx0 + (<usize>i << 2), ld, s4, 8, mask != 0, m0 + (<usize>i << 2));
  for (; i + 4 <= inF; i += 4) tile4x4(MASK_ADD, du0, ldu, 4, a + (<usize>i << 2), ld, r, dx0 + (<usize>i << 2), ld, s4, 4, mask != 0, m0 + (<usize>i << 2));
  for (let k = 0; k < 4; k++) dxTail(dx, du, a, mask, t + k, i, inF, r);
}

/** dX row t += (dU A) ∘ mask, 4 columns at a time, then the last in % 4 one by one. */
export function backwardDX1(dx: usize, du: usize, a: usize, mask: usize, t: i32, inF: i32, r: i32): void {
  const ld = <usize>inF << 2;
  const dxr = dx + <usize>t * ld, mr = mask + <usize>t * ld, dur = du + (<usize>t * <usize>r << 2);
  const s4 = f32x4.splat(0); // unused by MASK_ADD
  let i = 0;
  for (; i + 4 <= inF; i += 4) tile1x4(MASK_ADD, dur, 4, a + (<usize>i << 2), ld, r, dxr + (<usize>i << 2), s4, 4, mask != 0, mr + (<usize>i << 2));
  dxTail(dx, du, a, mask, t, i, inF, r);
}

/** dX[t, i0..in) one column at a time (the last in % 4 columns). */
@inline function dxTail(dx: usize, du: usize, a: usize, mask: usize, t: i32, i0: i32, inF: i32, r: i32): void {
  const ld = <usize>inF << 2;
  const dxr = dx + <usize>t * ld, mr = mask + <usize>t * ld, dur = du + (<usize>t * <usize>r << 2);
  for (let i = i0; i < inF; i++) {
    const o = <usize>i << 2;
    let s: f32 = 0;
    for (let j = 0; j < r; j++) s += load<f32>(dur + (<usize>j << 2)) * load<f32>(a + <usize>j * ld + o);
    if (mask) s *= load<f32>(mr + o);
    store<f32>(dxr + o, load<f32>(dxr + o) + s);
  }
}

