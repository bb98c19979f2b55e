// Cross-entropy per row over logits [N, V] and its backward. Twin of kernels/as/cross_entropy.ts.
//   lse_i = logsumexp(logits_i), loss_i = lse_i - logits_i[label_i]
//   dLogits_i = scale * (exp(logits_i - lse_i) - onehot)      (from the forward's saved lse)
// A label outside [0, V) (e.g. -100, ignore_index) gives loss 0 and a zero gradient row.
// Forward: one workgroup of ROW_WG invocations per row (max, then sum of exp(x - max), reduced in
// workgroup memory). Backward: one invocation per logit, 256 per workgroup; its in-place twin
// reads each logit from the gradient buffer it then overwrites (binding 2 unused).
struct Params { N: u32, V: u32, scale: f32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> outp: array<f32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<i32>;
// binding 4: lse [N], written by the forward, read by the backward
@group(0) @binding(4) var<storage, read_write> lseOut: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;

// invocations per row (a power of two, 32..256): the host sizes it to the row length, since
// idle invocations still pay for every barrier of the reduction
override ROW_WG: u32 = 256u;

var<workgroup> red: array<f32, ROW_WG>;

fn workgroupMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ROW_WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let m = red[0];
  workgroupBarrier();
  return m;
}

fn workgroupSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ROW_WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let t = red[0];
  workgroupBarrier();
  return t;
}

// max and sum_j exp(x_j - max) of one row, for every invocation of the workgroup
fn rowStats(base: u32, lid: u32) -> vec2f {
  var m = -3.402823466e38;
  for (var j = lid; j < P.V; j += ROW_WG) { m = max(m, logits[base + j]); }
  let rowMax = workgroupMax(m, lid);
  var s = 0.0;
  for (var j = lid; j < P.V; j += ROW_WG) { s += exp(logits[base + j] - rowMax); }
  return vec2f(rowMax, workgroupSum(s, lid));
}

// outp = loss [N], lseOut = logsumexp per row
@compute @workgroup_size(ROW_WG)
fn cross_entropy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.N) { return; }
  let label = labels[row];
  if (label < 0 || u32(label) >= P.V) {
    if (lid == 0u) { outp[row] = 0.0; lseOut[row] = 0.0; }
    return;
  }
  let base = row * P.V;
  let st = rowStats(base, lid);
  if (lid == 0u) {
    let l = log(st.y) + st.x;
    lseOut[row] = l;
    outp[row] = l - logits[base + u32(label)];
  }
}

// dLogits at flat index i of [N, V], whose logit is x
fn logitGrad(i: u32, x: f32) -> f32 {
  let row = i / P.V;
  let j = i - row * P.V;
  let label = labels[row];
  if (label < 0 || u32(label) >= P.V) { return 0.0; }
  var g = exp(x - lse[row]) * P.scale;
  if (j == u32(label)) { g -= P.scale; }
  return g;
}

// outp = dLogits [N, V]
@compute @workgroup_size(256)
fn cross_entropy_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= P.N * P.V) { return; }
  outp[i] = logitGrad(i, logits[i]);
}

// outp = dLogits [N, V], holding the logits on entry
@compute @workgroup_size(256)
fn cross_entropy_backward_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= P.N * P.V) { return; }
  outp[i] = logitGrad(i, outp[i]);
}
