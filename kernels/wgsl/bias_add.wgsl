// Bias-add: y[i, :] += b, over rows of width D. Twin of kernels/as/bias_add.ts (forward only: the
// gradient into y passes through unchanged and the biases are frozen).
struct Params { rows: u32, D: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

// one invocation per element of y
@compute @workgroup_size(256)
fn bias_add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= P.rows * P.D) { return; }
  y[i] += b[i % P.D];
}
