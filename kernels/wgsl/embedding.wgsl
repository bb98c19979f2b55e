// embedding: out[i, :] = table[ids[i], :]; backward: dTable[ids[i], :] += dOut[i, :].
// The backward gives each column d to one invocation, which walks the tokens in order: repeated
// ids then add into the same row without races or atomics, in the same order as on WASM.
// Twin of kernels/as/embedding.ts.
struct Params { N: u32, D: u32, V: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> outp: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> ids: array<i32>;

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 { return (wid.x + wid.y * nwg.x) * 256u + lid; }

// outp = out [N, D], src = table [V, D]
@compute @workgroup_size(256)
fn embedding(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = index(wid, nwg, lid);
  if (e >= P.N * P.D) { return; }
  let i = e / P.D;
  let d = e % P.D;
  outp[e] = src[u32(ids[i]) * P.D + d];
}

// outp = dTable [V, D], src = dOut [N, D]; ids outside [0, V) are skipped
@compute @workgroup_size(256)
fn embedding_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let d = index(wid, nwg, lid);
  if (d >= P.D) { return; }
  for (var i = 0u; i < P.N; i++) {
    let id = ids[i];
    if (id < 0 || u32(id) >= P.V) { continue; }
    let o = u32(id) * P.D + d;
    outp[o] = outp[o] + src[i * P.D + d];
  }
}
