// LayerNorm with weight and bias, and its backward (dX only). Twin of kernels/as/layernorm.ts:
//   mean_i = sum_k x_ik / D,  rstd_i = 1/sqrt(sum_k (x_ik - mean_i)^2 / D + eps)
//   y_ik   = ((x_ik - mean_i) * rstd_i) * w_k + b_k
//   g_ik  = dy_ik w_k,  a_i = sum_k g_ik / D,  c_i = rstd_i^2 * sum_k g_ik (x_ik - mean_i) / D
//   dx_ik = rstd_i * (g_ik - a_i - (x_ik - mean_i) * c_i)
// One workgroup of ROW_WG invocations per row, reducing in workgroup memory (as rmsnorm.wgsl).
struct Params { rows: u32, D: u32, eps: f32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> outp: array<f32>;
@group(0) @binding(2) var<storage, read_write> meanOut: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstdOut: array<f32>;
@group(0) @binding(4) var<storage, read> xF: array<f32>;
@group(0) @binding(5) var<storage, read> wF: array<f32>;
@group(0) @binding(6) var<storage, read> bF: array<f32>;
// backward: 1 = dx, 2 = dy, 3 = x, 4 = w, 5 = mean, 6 = rstd
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> xB: array<f32>;
@group(0) @binding(4) var<storage, read> wB: array<f32>;
@group(0) @binding(5) var<storage, read> meanB: array<f32>;
@group(0) @binding(6) var<storage, read> rstdB: array<f32>;

// invocations per row (a power of two, 32..256), sized by the host to the row length
override ROW_WG: u32 = 256u;

var<workgroup> red: array<f32, ROW_WG>;

// Sum of v over the workgroup; every invocation gets the result.
fn workgroupSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ROW_WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(ROW_WG)
fn layernorm(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) { return; }
  let base = row * P.D;
  var s = 0.0;
  for (var k = lid; k < P.D; k += ROW_WG) { s += xF[base + k]; }
  let m = workgroupSum(s, lid) / f32(P.D);
  var ss = 0.0;
  for (var k = lid; k < P.D; k += ROW_WG) { let d = xF[base + k] - m; ss += d * d; }
  let r = 1.0 / sqrt(workgroupSum(ss, lid) / f32(P.D) + P.eps);
  if (lid == 0u) { meanOut[row] = m; rstdOut[row] = r; }
  for (var k = lid; k < P.D; k += ROW_WG) { outp[base + k] = ((xF[base + k] - m) * r) * wF[k] + bF[k]; }
}

@compute @workgroup_size(ROW_WG)
fn layernorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) { return; }
  let base = row * P.D;
  let m = meanB[row];
  let r = rstdB[row];
  var sg = 0.0;
  var sgx = 0.0;
  for (var k = lid; k < P.D; k += ROW_WG) {
    let g = dy[base + k] * wB[k];
    sg += g;
    sgx += g * (xB[base + k] - m);
  }
  let a = workgroupSum(sg, lid) / f32(P.D);
  let c = r * r * workgroupSum(sgx, lid) / f32(P.D);
  for (var k = lid; k < P.D; k += ROW_WG) {
    let g = dy[base + k] * wB[k];
    outp[base + k] = r * ((g - a) - (xB[base + k] - m) * c);
  }
}
