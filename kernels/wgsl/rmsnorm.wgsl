// RMSNorm and its backward. Twin of kernels/as/rmsnorm.ts:
//   rstd_i = 1/sqrt(mean_k x_ik^2 + eps),  y_ik = (x_ik * rstd_i) * w_k
//   dx_ik  = rstd_i * w_k * dy_ik - x_ik * rstd_i^3 / D * sum_k dy_ik w_k x_ik
//   dw_k  += sum_i dy_ik * x_ik * rstd_i
// The row kernels give one workgroup of ROW_WG invocations to a row and reduce in workgroup
// memory; the weight gradient gives one invocation to a column, walking the rows, so each dW
// element has a single writer.
struct Params { rows: u32, D: u32, eps: f32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> outp: array<f32>;
@group(0) @binding(2) var<storage, read_write> rstdOut: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;

// invocations per row (a power of two, 32..256): the host sizes it to the row length, since
// idle invocations still pay for every barrier of the reduction
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

// bindings: outp = out, 2 = rstd (written), 3 = x, 4 = w
@compute @workgroup_size(ROW_WG)
fn rmsnorm(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) { return; }
  let base = row * P.D;
  var ss = 0.0;
  for (var k = lid; k < P.D; k += ROW_WG) { let v = x[base + k]; ss += v * v; }
  let total = workgroupSum(ss, lid);
  let r = 1.0 / sqrt(total / f32(P.D) + P.eps);
  if (lid == 0u) { rstdOut[row] = r; }
  for (var k = lid; k < P.D; k += ROW_WG) { outp[base + k] = (x[base + k] * r) * w[k]; }
}

// bindings: outp = dx, 2 = dy, 3 = x, 4 = w, 5 = rstd
@compute @workgroup_size(ROW_WG)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) { return; }
  let base = row * P.D;
  let r = rstd[row];
  var acc = 0.0;
  for (var k = lid; k < P.D; k += ROW_WG) { acc += dy[base + k] * w[k] * x[base + k]; }
  let dot = workgroupSum(acc, lid);
  let c = dot * r * r * r / f32(P.D);
  for (var k = lid; k < P.D; k += ROW_WG) { outp[base + k] = r * (w[k] * dy[base + k]) - c * x[base + k]; }
}

// bindings: outp = dw, 2 = dy, 3 = x, 4 = (unused), 5 = rstd
@compute @workgroup_size(256)
fn rmsnorm_backward_weight(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (k >= P.D) { return; }
  var s = 0.0;
  for (var i = 0u; i < P.rows; i++) { s += dy[i * P.D + k] * x[i * P.D + k] * rstd[i]; }
  outp[k] += s;
}
