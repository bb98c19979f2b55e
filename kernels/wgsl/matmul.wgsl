// matmul: C[M,N] = alpha * op(A) op(B) + beta * C. Twin of kernels/as/matmul.ts.
// A is [M,K] or, with TRANS_A, [K,M]; B is [K,N] or, with TRANS_B, [N,K] (nn.Linear weights).
// A 64x64 tile of C per workgroup of 16x16 invocations, each owning a 4x4 block in registers;
// K advances 16 at a time through workgroup-memory tiles of A and B. Tiles are loaded with
// bounds checks (zeros outside), so M, N, K need not be multiples of the tile. beta = 0 never
// reads C (it may hold garbage, even NaN). matmul_vec4 is the same kernel with vec4 loads,
// used where each operand's contiguous dimension is a multiple of 4.
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

// acc[i] += As[k][4ty + i] * Bs[k][4tx .. 4tx+3] over the tile's 16 k
fn multiplyTile(ty: u32, tx: u32, acc: ptr<function, array<vec4f, 4>>) {
  for (var k = 0u; k < TK; k++) {
    let a = As[k * 16u + ty];
    let b = Bs[k * 16u + tx];
    (*acc)[0] += a.x * b;
    (*acc)[1] += a.y * b;
    (*acc)[2] += a.z * b;
    (*acc)[3] += a.w * b;
  }
}

fn storeBlock(row0: u32, col0: u32, ty: u32, tx: u32, acc: ptr<function, array<vec4f, 4>>) {
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + ty * 4u + i;
    if (r >= P.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + tx * 4u + j;
      if (c >= P.N) { break; }
      var v = P.alpha * (*acc)[i][j];
      if (P.beta != 0.0) { v += P.beta * C[r * P.N + c]; }
      C[r * P.N + c] = v;
    }
  }
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
    multiplyTile(lid.y, lid.x, &acc);
    workgroupBarrier();
  }
  storeBlock(row0, col0, lid.y, lid.x, &acc);
}

// ---- matmul_vec4: the same, loading A and B as vec4 (one per invocation per tile) ----------
// Used when the contiguous dimension of each operand is a multiple of 4 (A: K, or M with
// TRANS_A; B: N, or K with TRANS_B), so a vec4 never straddles a row end.
@group(0) @binding(2) var<storage, read> A4: array<vec4f>;
@group(0) @binding(3) var<storage, read> B4: array<vec4f>;

fn loadA4(m: u32, k: u32) -> vec4f {
  // TRANS_A: 4 consecutive m at k; else 4 consecutive k at m
  if (TRANS_A) {
    if (k >= P.K || m >= P.M) { return vec4f(0.0); }
    return A4[(k * P.M + m) / 4u];
  }
  if (m >= P.M || k >= P.K) { return vec4f(0.0); }
  return A4[(m * P.K + k) / 4u];
}

fn loadB4(k: u32, n: u32) -> vec4f {
  // TRANS_B: 4 consecutive k at n; else 4 consecutive n at k
  if (TRANS_B) {
    if (n >= P.N || k >= P.K) { return vec4f(0.0); }
    return B4[(n * P.K + k) / 4u];
  }
  if (k >= P.K || n >= P.N) { return vec4f(0.0); }
  return B4[(k * P.N + n) / 4u];
}

@compute @workgroup_size(16, 16)
fn matmul_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
               @builtin(local_invocation_index) li: u32) {
  let row0 = wid.y * TM;
  let col0 = wid.x * TN;
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < P.K; k0 += TK) {
    if (TRANS_A) {
      // [K, M]: invocation li loads m = 4*(li % 16) .. +3 at k = li / 16
      As[li] = loadA4(row0 + 4u * (li % 16u), k0 + li / 16u);
    } else {
      // [M, K]: invocation li loads k = 4*(li % 4) .. +3 at m = li / 4
      let m = li / 4u;
      let kq = 4u * (li % 4u);
      let v = loadA4(row0 + m, k0 + kq);
      for (var t = 0u; t < 4u; t++) { As[(kq + t) * 16u + m / 4u][m % 4u] = v[t]; }
    }
    if (TRANS_B) {
      // [N, K]: invocation li loads k = 4*(li % 4) .. +3 at n = li / 4
      let n = li / 4u;
      let kq = 4u * (li % 4u);
      let v = loadB4(k0 + kq, col0 + n);
      for (var t = 0u; t < 4u; t++) { Bs[(kq + t) * 16u + n / 4u][n % 4u] = v[t]; }
    } else {
      // [K, N]: invocation li loads n = 4*(li % 16) .. +3 at k = li / 16
      Bs[li] = loadB4(k0 + li / 16u, col0 + 4u * (li % 16u));
    }
    workgroupBarrier();
    multiplyTile(lid.y, lid.x, &acc);
    workgroupBarrier();
  }
  storeBlock(row0, col0, lid.y, lid.x, &acc);
}
