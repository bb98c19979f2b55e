// Sum of squares, out[0] += sum_i x[i]^2 (adds into the existing value), in two stages so no
// atomics are needed and the result does not depend on scheduling: stage 1 writes one partial
// per workgroup (grid-stride over x), stage 2 (one workgroup) adds the partials in a fixed tree
// order and adds the total into out[0]. Twin of kernels/as/sum_squares.ts.
struct Params { n: u32, parts: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> outp: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

var<workgroup> red: array<f32, 256>;

fn workgroupSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  return red[0];
}

// outp = partials [parts], x = input; dispatched with `parts` workgroups
@compute @workgroup_size(256)
fn sum_squares_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = wid.x * 256u + lid; i < P.n; i += P.parts * 256u) { let v = x[i]; s += v * v; }
  let total = workgroupSum(s, lid);
  if (lid == 0u) { outp[wid.x] = total; }
}

// outp = out [1], x = partials [parts]; one workgroup
@compute @workgroup_size(256)
fn sum_squares_finish(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < P.parts; i += 256u) { s += x[i]; }
  let total = workgroupSum(s, lid);
  if (lid == 0u) { outp[0] = outp[0] + total; }
}
