// SwiGLU gating of the Llama MLP and its backward. WGSL twin: kernels/wgsl/swiglu.wgsl.
import { chunkStart4, chunkEnd4 } from './common/threads';
import { exp4 } from './common/exp4';

// 1/(1+exp(-x)) stays finite for every x: exp overflows to +inf for x < -88 and the result is 0
// (exp4 clamps at exp(88) instead, giving 6e-39: the same to f32 precision).
@inline function sigmoid(x: f32): f32 {
  return 1.0 / (1.0 + Mathf.exp(-x));
}

@inline function sigmoid4(x: v128): v128 {
  return f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), exp4(f32x4.neg(x))));
}

/** out = silu(gate) * up, silu(x) = x * sigmoid(x). */
export function swiglu(out: usize, gate: usize, up: usize, n: i32, tid: i32, nthreads: i32): void {
  const s = chunkStart4(n, tid, nthreads), e = chunkEnd4(n, tid, nthreads);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(gate + o);
    v128.store(out + o, f32x4.mul(f32x4.mul(g, sigmoid4(g)), v128.load(up + o)));
  }
  for (; i < e; i++) {
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
  const s = chunkStart4(n, tid, nthreads), e = chunkEnd4(n, tid, nthreads);
  const one = f32x4.splat(1.0);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(gate + o), u = v128.load(up + o), d = v128.load(dout + o);
    const sg = sigmoid4(g);
    v128.store(dup + o, f32x4.mul(f32x4.mul(d, g), sg));
    v128.store(dgate + o, f32x4.mul(f32x4.mul(f32x4.mul(d, u), sg), f32x4.add(one, f32x4.mul(g, f32x4.sub(one, sg)))));
  }
  for (; i < e; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o), u = load<f32>(up + o), d = load<f32>(dout + o);
    const sg = sigmoid(g);
    store<f32>(dup + o, d * g * sg);
    store<f32>(dgate + o, d * u * sg * (1.0 + g * (1.0 - sg)));
  }
}
