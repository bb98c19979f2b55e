// LoRA, the parts that are not plain matmuls (those go through matmul.wgsl; the WASM kernels
// fold them in, kernels/as/lora.ts):
//   lora_u:  U[T,r] = (X ∘ mask) A^T          (written)
//   lora_dx: dX[T,in] += (dU A) ∘ mask         (added into)
//   lora_da: dA[r,in] += dU^T (X ∘ mask)       (added into)
// A is [r, in] (PEFT layout). mask [T, in] is optional: HAS_MASK = 0 binds a dummy buffer.
// r is small (4..64), so one invocation per output element with a plain loop is enough.
// Twin of kernels/as/lora.ts.
struct Params { T: u32, inF: u32, r: u32, hasMask: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> outp: array<f32>;
@group(0) @binding(2) var<storage, read> in0: array<f32>;
@group(0) @binding(3) var<storage, read> in1: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 { return (wid.x + wid.y * nwg.x) * 256u + lid; }

fn maskAt(i: u32) -> f32 {
  if (P.hasMask != 0u) { return mask[i]; }
  return 1.0;
}

// outp = U, in0 = X, in1 = A
@compute @workgroup_size(256)
fn lora_u(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = index(wid, nwg, lid);
  if (e >= P.T * P.r) { return; }
  let t = e / P.r;
  let k = e % P.r;
  var s = 0.0;
  for (var i = 0u; i < P.inF; i++) {
    s += in0[t * P.inF + i] * maskAt(t * P.inF + i) * in1[k * P.inF + i];
  }
  outp[e] = s;
}

// outp = dX, in0 = dU, in1 = A
@compute @workgroup_size(256)
fn lora_dx(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = index(wid, nwg, lid);
  if (e >= P.T * P.inF) { return; }
  let t = e / P.inF;
  let i = e % P.inF;
  var s = 0.0;
  for (var k = 0u; k < P.r; k++) {
    s += in0[t * P.r + k] * in1[k * P.inF + i];
  }
  outp[e] += s * maskAt(e);
}

// outp = dA, in0 = dU, in1 = X
@compute @workgroup_size(256)
fn lora_da(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = index(wid, nwg, lid);
  if (e >= P.r * P.inF) { return; }
  let k = e / P.inF;
  let i = e % P.inF;
  var s = 0.0;
  for (var t = 0u; t < P.T; t++) {
    s += in0[t * P.r + k] * (in1[t * P.inF + i] * maskAt(t * P.inF + i));
  }
  outp[e] += s;
}
