// dropout mask: mask[i] = u(seed, i) >= p ? scale : 0, i < n, with the integer hash of
// kernels/as/dropout.ts reproduced bit for bit (u32 wrapping arithmetic only):
//   fmix32 = murmur3's finaliser; key = fmix32(seed + 0x6A09E667);
//   hash = fmix32((i * 0x9E3779B9) ^ key); u = f32(hash >> 8) * 2^-24 (exact).
// scale = f32(1) / (f32(1) - p) comes from the host already rounded to f32, because WGSL's f32
// division may be off by 2.5 ulp and the masks must agree exactly across backends.
// rows != 0: the mask is [n / width, width] and element (r, j) hashes index[r] * width + j (the
// value a whole mask has at row index[r]).
struct Params { n: u32, p: f32, seed: u32, scale: f32, width: u32, rows: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> mask: array<f32>;
@group(0) @binding(2) var<storage, read> index: array<i32>;

fn fmix32(x: u32) -> u32 {
  var h = x;
  h ^= h >> 16u;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13u;
  h *= 0xC2B2AE35u;
  h ^= h >> 16u;
  return h;
}

@compute @workgroup_size(256)
fn dropout_mask(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= P.n) { return; }
  let key = fmix32(P.seed + 0x6A09E667u);
  var at = i;
  if (P.rows != 0u) {
    let r = i / P.width;
    at = u32(index[r]) * P.width + (i - r * P.width);
  }
  let h = fmix32((at * 0x9E3779B9u) ^ key);
  let u = f32(h >> 8u) * 5.9604644775390625e-8;
  mask[i] = select(0.0, P.scale, u >= P.p);
}
