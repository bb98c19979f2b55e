// SwiGLU gating of the Llama MLP and its backward. WGSL twin: kernels/wgsl/swiglu.wgsl.
import { chunkStart, chunkEnd } from './common/threads';

// 1/(1+exp(-x)) stays finite for every x: exp overflows to +inf for x < -88 and the result is 0.
@inline function sigmoid(x: f32): f32 {
  return 1.0 / (1.0 + Mathf.exp(-x));
}

/** out = silu(gate) * up, silu(x) = x * sigmoid(x). */
export function swiglu(out: usize, gate: usize, up: usize, n: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart(n, tid, nthreads), e = chunkEnd(n, tid, nthreads);
  for (let i = s; i < e; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o);
    store<f32>(out + o, g * sigmoid(g) * load<f32>(up + o));
  }
}

/**
 * dUp = dOut * silu(gate); dGate = dOut * up * silu'(gate),
 * silu'(x) = sigmoid(x) * (1 + x * (1 - sigmoid(x))).
 */
export function swiglu_backward(dgate: usize, dup: usize, dout: usize, gate: usize, up: usize, n: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart(n, tid, nthreads), e = chunkEnd(n, tid, nthreads);
  for (let i = s; i < e; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o), u = load<f32>(up + o), d = load<f32>(dout + o);
    const sg = sigmoid(g);
    store<f32>(dup + o, d * g * sg);
    store<f32>(dgate + o, d * u * sg * (1.0 + g * (1.0 - sg)));
  }
}
