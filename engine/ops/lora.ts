// LoRA adapter (PEFT layout) over Tensors: y += scale * B A (x ∘ mask), A [r, in], B [out, r],
// scale = lora_alpha / r. The frozen base product (W x) is a separate linear().
import type { LoraDims } from '../backend.ts';
import { Tensor, expectDType, expectShape } from '../tensor.ts';

function dims(what: string, x: Tensor, a: Tensor, b: Tensor, scale: number): LoraDims {
  for (const [n, t] of [['x', x], ['a', a], ['b', b]] as const) expectDType(`${what} ${n}`, t, 'f32');
  if (a.shape.length !== 2 || b.shape.length !== 2) throw new Error(`${what}: a and b must be 2-D`);
  const [r, inF] = a.shape, [outF, rb] = b.shape;
  if (rb !== r) throw new Error(`${what}: a is [${a.shape.join(', ')}] but b is [${b.shape.join(', ')}]: ranks differ`);
  if (x.shape.length < 1 || x.shape[x.shape.length - 1] !== inF) {
    throw new Error(`${what}: x must end in ${inF} (a's in-features), got [${x.shape.join(', ')}]`);
  }
  return { T: inF === 0 ? 0 : x.size / inF, inF, outF, r, scale };
}

function checkMask(what: string, mask: Tensor | null, x: Tensor): void {
  if (!mask) return;
  expectDType(`${what} mask`, mask, 'f32');
  expectShape(`${what} mask`, mask, x.shape);
}

/** U = (x ∘ mask) A^T (written, kept for the backward); y += scale * U B^T. mask null: no dropout. */
export function loraForward(y: Tensor, u: Tensor, x: Tensor, a: Tensor, b: Tensor, mask: Tensor | null, scale: number): void {
  const d = dims('loraForward', x, a, b, scale);
  expectShape('loraForward y', y, [...x.shape.slice(0, -1), d.outF]);
  expectShape('loraForward u', u, [...x.shape.slice(0, -1), d.r]);
  checkMask('loraForward', mask, x);
  x.backend.loraForward(y.buf, u.buf, x.buf, a.buf, b.buf, mask ? mask.buf : null, d);
}

/**
 * Given dY and the forward's U: writes dU (scratch), adds (dU A) ∘ mask into dX, and when dA/dB
 * are given adds the adapter gradients into them.
 */
export function loraBackward(dx: Tensor, dA: Tensor | null, dB: Tensor | null, du: Tensor, dy: Tensor,
  x: Tensor, a: Tensor, b: Tensor, u: Tensor, mask: Tensor | null, scale: number): void {
  const d = dims('loraBackward', x, a, b, scale);
  const lead = x.shape.slice(0, -1);
  expectShape('loraBackward dx', dx, x.shape);
  expectShape('loraBackward dy', dy, [...lead, d.outF]);
  expectShape('loraBackward u', u, [...lead, d.r]);
  expectShape('loraBackward du', du, [...lead, d.r]);
  if (dA) expectShape('loraBackward dA', dA, a.shape);
  if (dB) expectShape('loraBackward dB', dB, b.shape);
  checkMask('loraBackward', mask, x);
  x.backend.loraBackward(dx.buf, dA ? dA.buf : null, dB ? dB.buf : null, du.buf, dy.buf, x.buf, a.buf, b.buf,
    u.buf, mask ? mask.buf : null, d);
}
