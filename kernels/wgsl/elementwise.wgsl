// Elementwise helpers: fill, axpy, scale and scale_by_inverse_norm (Vaccine's normalisation by a
// global norm, read from s[0] on the device so no host round trip is needed).
// Twin of kernels/as/elementwise.ts. One invocation per element; the grid may be 2D when n
// needs more workgroups than one dimension allows.
struct Params { n: u32, alpha: f32, rho: f32, eps: f32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 { return (wid.x + wid.y * nwg.x) * 256u + lid; }

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i < P.n) { out[i] = P.alpha; }
}

@compute @workgroup_size(256)
fn axpy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i < P.n) { out[i] = out[i] + P.alpha * x[i]; }
}

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i < P.n) { out[i] = P.alpha * x[i]; }
}

// out is also the input: a buffer may not be bound both writable and read-only in one dispatch.
@compute @workgroup_size(256)
fn scale_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i < P.n) { out[i] = P.alpha * out[i]; }
}

fn inverse_norm_factor() -> f32 { return P.rho / (sqrt(s[0]) + P.eps); }

@compute @workgroup_size(256)
fn scale_by_inverse_norm(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i < P.n) { out[i] = inverse_norm_factor() * x[i]; }
}

@compute @workgroup_size(256)
fn scale_by_inverse_norm_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i < P.n) { out[i] = inverse_norm_factor() * out[i]; }
}
