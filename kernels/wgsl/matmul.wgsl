// matmul: C[M,N] = alpha * op(A) op(B) + beta * C. Twin of kernels/as/matmul.ts.
// A is [M,K] or, with TRANS_A, [K,M]; B is [K,N] or, with TRANS_B, [N,K] (nn.Linear weights).
// A 64x64 tile of C per workgroup of 16x16 invocations, each owning a 4x4 block in registers;
// K advances 16 at a time through workgroup-memory tiles of A and B. Tiles are loaded with
// bounds checks (zeros outside), so M, N, K need not be multiples of the tile. beta = 0 never
// reads C (it may hold garbage, even NaN).
// Variant: with shader-f16, B may be stored as f16 (frozen base weights at half the memory).
struct Params { M: u32, N: u32, K: u32, alpha: f32, beta: f32 }

override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> C: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>; // B element type
// The host derives matmul_f16b (B stored as f16, compute still f32) from this file by enabling
// f16 and switching the element type on the line above; bAt() converts either way.
fn bAt(i: u32) -> f32 { return f32(B[i]); }

const TM = 64u;
const TN = 64u;
const TK = 16u;

// As[k][m] and Bs[k][n]: the inner loop reads 4 consecutive m (or n) for a fixed k.
var<workgroup> As: array<vec4f, 256>; // TK * TM / 4
var<workgroup> Bs: array<vec4f, 256>; // TK * TN / 4

fn loadA(m: u32, k: u32) -> f32 {
  if (m >= P.M || k >= P.K) { return 0.0; }
  if (TRANS_A) { return A[k * P.M + m]; }
  return A[m * P.K + k];
}

fn loadB(k: u32, n: u32) -> f32 {
  if (n >= P.N || k >= P.K) { return 0.0; }
  if (TRANS_B) { return bAt(n * P.K + k); }
  return bAt(k * P.N + n);
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
          @builtin(local_invocation_index) li: u32) {
  let row0 = wid.y * TM;
  let col0 = wid.x * TN;
  var acc: array<vec4f, 4>; // acc[i] = C[row0 + 4*ty + i, col0 + 4*tx .. +3]
  for (var k0 = 0u; k0 < P.K; k0 += TK) {
    // 256 invocations fill the 16x64 floats of each tile, 4 each. Neighbouring invocations
    // read neighbouring addresses: along k where the operand is stored k-contiguous
    // (A [M,K], B^T [N,K]), along m or n otherwise.
    for (var l = 0u; l < 4u; l++) {
      let e = li + 256u * l;
      var kk = e / 64u;
      var mn = e % 64u;
      if (!TRANS_A) { kk = e % 16u; mn = e / 16u; }
      As[kk * 16u + mn / 4u][mn % 4u] = loadA(row0 + mn, k0 + kk);
      kk = e / 64u;
      mn = e % 64u;
      if (TRANS_B) { kk = e % 16u; mn = e / 16u; }
      Bs[kk * 16u + mn / 4u][mn % 4u] = loadB(k0 + kk, col0 + mn);
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      let a = As[k * 16u + lid.y];
      let b = Bs[k * 16u + lid.x];
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid.y * 4u + i;
    if (r >= P.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + lid.x * 4u + j;
      if (c >= P.N) { break; }
      var v = P.alpha * acc[i][j];
      if (P.beta != 0.0) { v += P.beta * C[r * P.N + c]; }
      C[r * P.N + c] = v;
    }
  }
}
