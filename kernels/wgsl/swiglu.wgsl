// SwiGLU: out = silu(gate) * up; backward: dUp = dOut * silu(gate),
// dGate = dOut * up * sigmoid(gate) * (1 + gate * (1 - sigmoid(gate))). Twin of kernels/as/swiglu.ts.
struct Params { n: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out0: array<f32>;
@group(0) @binding(2) var<storage, read_write> out1: array<f32>;
@group(0) @binding(2) var<storage, read> gateF: array<f32>;
@group(0) @binding(3) var<storage, read> upF: array<f32>;
@group(0) @binding(3) var<storage, read> dOut: array<f32>;
@group(0) @binding(4) var<storage, read> gateB: array<f32>;
@group(0) @binding(5) var<storage, read> upB: array<f32>;

fn sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 { return (wid.x + wid.y * nwg.x) * 256u + lid; }

// bindings: 1 = out, 2 = gate, 3 = up
@compute @workgroup_size(256)
fn swiglu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= P.n) { return; }
  let g = gateF[i];
  out0[i] = g * sigmoid(g) * upF[i];
}

// bindings: 1 = dGate, 2 = dUp, 3 = dOut, 4 = gate, 5 = up
@compute @workgroup_size(256)
fn swiglu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= P.n) { return; }
  let g = gateB[i];
  let u = upB[i];
  let d = dOut[i];
  let sg = sigmoid(g);
  out1[i] = d * g * sg;
  out0[i] = d * u * sg * (1.0 + g * (1.0 - sg));
}
