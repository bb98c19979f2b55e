// SwiGLU (out = silu(gate) * up) over Tensors: shape checks, then the backend op.
import { Tensor, expectDType, expectShape } from '../tensor.ts';

export function swiglu(out: Tensor, gate: Tensor, up: Tensor): void {
  for (const [n, t] of [['out', out], ['gate', gate], ['up', up]] as const) expectDType(`swiglu ${n}`, t, 'f32');
  expectShape('swiglu up', up, gate.shape);
  expectShape('swiglu out', out, gate.shape);
  gate.backend.swiglu(out.buf, gate.buf, up.buf, gate.size);
}

/** Writes dGate and dUp. */
export function swigluBackward(dGate: Tensor, dUp: Tensor, dOut: Tensor, gate: Tensor, up: Tensor): void {
  for (const [n, t] of [['dGate', dGate], ['dUp', dUp], ['dOut', dOut], ['gate', gate], ['up', up]] as const) {
    expectDType(`swigluBackward ${n}`, t, 'f32');
    expectShape(`swigluBackward ${n}`, t, gate.shape);
  }
  gate.backend.swigluBackward(dGate.buf, dUp.buf, dOut.buf, gate.buf, up.buf, gate.size);
}
