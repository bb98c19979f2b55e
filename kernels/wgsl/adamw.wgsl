// AdamW step in place on p, m, v, as torch.optim.AdamW (decoupled weight decay):
//   p *= 1 - lr*wd;  m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g*g;
//   p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)      bc1 = 1 - beta1^t, bc2 = 1 - beta2^t
// Twin of kernels/as/adamw.ts. The derived constants (1 - beta2, lr / bc1, sqrt(bc2), ...) come
// from the host, formed in f64 and rounded once to f32 as the AS kernel forms them: formed here in
// f32, 1 - f32(0.999) alone is off by 1.3e-5 relative. The per-element f32 operations below are
// the AS kernel's, in its order, so both backends round the same way.
struct Params {
  n: u32,
  decay: f32,      // 1 - lr*wd
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  stepSize: f32,   // lr / bc1
  bc2Sqrt: f32,    // sqrt(bc2)
  eps: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn adamw(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= P.n) { return; }
  let gi = g[i];
  let mi = P.beta1 * m[i] + P.oneMinusBeta1 * gi;
  let vi = P.beta2 * v[i] + P.oneMinusBeta2 * (gi * gi);
  let denom = sqrt(vi) / P.bc2Sqrt + P.eps;
  p[i] = p[i] * P.decay - P.stepSize * (mi / denom);
  m[i] = mi;
  v[i] = vi;
}
