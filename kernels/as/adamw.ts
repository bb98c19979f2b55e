// AdamW step in place on p, m, v, as torch.optim.AdamW (foreach=False, amsgrad=False):
//   p *= 1 - lr*wd;  m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g*g;
//   p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)     with bc1 = 1 - beta1^t, bc2 = 1 - beta2^t.
// The same order of operations as torch, so f32 results track it closely. The scalars arrive as
// f64 and the derived constants (1 - beta2, lr / bc1, ...) are formed in f64 before rounding to
// f32, as torch forms them in Python floats: 1 - f32(0.999) alone would be off by 1.3e-5 relative.
// WGSL twin: kernels/wgsl/adamw.wgsl (its uniforms should carry these f64-formed constants).
import { chunkStart4, chunkEnd4 } from './common/threads';

export function adamw(p: usize, g: usize, m: usize, v: usize, n: i32, lr: f64, beta1: f64, beta2: f64,
  eps: f64, wd: f64, bc1: f64, bc2: f64, tid: i32, nthreads: i32): void {
  const s = chunkStart4(n, tid, nthreads), e = chunkEnd4(n, tid, nthreads);
  const decayS = <f32>(1 - lr * wd);
  const b1S = <f32>beta1, ob1S = <f32>(1 - beta1), b2S = <f32>beta2, ob2S = <f32>(1 - beta2);
  const stepS = <f32>(lr / bc1), bc2SqrtS = <f32>Math.sqrt(bc2), epsS = <f32>eps;
  const decay = f32x4.splat(decayS);
  const b1 = f32x4.splat(b1S), ob1 = f32x4.splat(ob1S);
  const b2 = f32x4.splat(b2S), ob2 = f32x4.splat(ob2S);
  const stepSize = f32x4.splat(stepS);
  const bc2Sqrt = f32x4.splat(bc2SqrtS);
  const epsV = f32x4.splat(epsS);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    const gi = v128.load(g + o);
    const mi = f32x4.add(f32x4.mul(b1, v128.load(m + o)), f32x4.mul(ob1, gi));
    const vi = f32x4.add(f32x4.mul(b2, v128.load(v + o)), f32x4.mul(ob2, f32x4.mul(gi, gi)));
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vi), bc2Sqrt), epsV);
    const pi = f32x4.mul(v128.load(p + o), decay);
    v128.store(p + o, f32x4.sub(pi, f32x4.mul(stepSize, f32x4.div(mi, denom))));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
  }
  for (; i < e; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const mi = b1S * load<f32>(m + o) + ob1S * gi;
    const vi = b2S * load<f32>(v + o) + ob2S * (gi * gi);
    const denom = Mathf.sqrt(vi) / bc2SqrtS + epsS;
    store<f32>(p + o, load<f32>(p + o) * decayS - stepS * (mi / denom));
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
  }
}
