// AdamW step in place on p, m, v, as torch.optim.AdamW (foreach=False, amsgrad=False):
//   p *= 1 - lr*wd;  m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g*g;
//   p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)     with bc1 = 1 - beta1^t, bc2 = 1 - beta2^t.
// The same order of operations as torch, so f32 results track it closely. WGSL twin: kernels/wgsl/adamw.wgsl.
import { chunkStart, chunkEnd } from './common/threads';

export function adamw(p: usize, g: usize, m: usize, v: usize, n: i32, lr: f32, beta1: f32, beta2: f32,
  eps: f32, wd: f32, bc1: f32, bc2: f32, tid: i32, nthreads: i32): void {
  const s = chunkStart(n, tid, nthreads), e = chunkEnd(n, tid, nthreads);
  const decay = f32x4.splat(<f32>1 - lr * wd);
  const b1 = f32x4.splat(beta1), ob1 = f32x4.splat(<f32>1 - beta1);
  const b2 = f32x4.splat(beta2), ob2 = f32x4.splat(<f32>1 - beta2);
  const stepSize = f32x4.splat(lr / bc1);
  const bc2Sqrt = f32x4.splat(Mathf.sqrt(bc2));
  const epsV = f32x4.splat(eps);
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
    const mi = beta1 * load<f32>(m + o) + (<f32>1 - beta1) * gi;
    const vi = beta2 * load<f32>(v + o) + (<f32>1 - beta2) * gi * gi;
    const denom = Mathf.sqrt(vi) / Mathf.sqrt(bc2) + eps;
    store<f32>(p + o, load<f32>(p + o) * (<f32>1 - lr * wd) - (lr / bc1) * (mi / denom));
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
  }
}
