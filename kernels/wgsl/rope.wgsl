// Rotary position embedding in place on x [rows, H, hd]; row i sits at position pos0 + (i mod T);
// cos/sin are tables [maxPos, hd/2]. Pairs are (2j, 2j+1) when interleaved (llama2.c), else
// (j, j + hd/2) (Hugging Face rotate-half). inverse rotates by -angle: that is the backward.
// One invocation per pair, so each element has one reader and writer. Twin of kernels/as/rope.ts.
struct Params { rows: u32, T: u32, H: u32, hd: u32, pos0: u32, interleaved: u32, inverse: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> cosT: array<f32>;
@group(0) @binding(3) var<storage, read> sinT: array<f32>;

@compute @workgroup_size(256)
fn rope(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * 256u + lid;
  let half = P.hd / 2u;
  if (e >= P.rows * P.H * half) { return; }
  let j = e % half;
  let rh = e / half; // row * H + head
  let row = rh / P.H;
  let pos = P.pos0 + row % P.T;
  let c = cosT[pos * half + j];
  var s = sinT[pos * half + j];
  if (P.inverse != 0u) { s = -s; }
  let base = rh * P.hd;
  var i0 = base + j;
  var i1 = base + j + half;
  if (P.interleaved != 0u) { i0 = base + 2u * j; i1 = i0 + 1u; }
  let a = x[i0];
  let b = x[i1];
  x[i0] = a * c - b * s;
  x[i1] = a * s + b * c;
}
