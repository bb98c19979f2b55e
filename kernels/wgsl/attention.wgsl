// Causal grouped-query attention, flash style, and its backward. Twin of kernels/as/attention.ts.
// Layouts: q/out [B,Tq,Hq,hd], k/v [B,Tk,Hkv,hd] (Tk is the row stride: a KV cache's capacity),
// lse [B,Hq,Tq], keyLen i32 [B]. Query i of batch b sees keys j <= qPos0 + i and j < keyLen[b];
// query head h reads kv head h / (Hq/Hkv). A query with no visible key gets out = 0,
// lse = -inf and zero gradients.
//
// Forward: a workgroup takes 64 consecutive queries of one (b, h), one query per invocation.
// Keys stream through workgroup memory 16 at a time (shared by the 64 queries); each
// invocation keeps its running max, sum and output row (online softmax, rescaled once per tile),
// so the T x T score matrix never exists. lse is saved for the backward.
// Backward: delta_i = dout_i . out_i first; then dq with the same layout as the forward
// (p = exp(s - lse) recomputed), and dk/dv with one invocation per key j of one (b, kv head),
// streaming the queries of every head of the group through workgroup memory: the sum over
// the group happens inside one invocation, so dk/dv have a single writer (no atomics, no races).
// head_dim is at most MAX_HD (private rows); the host checks it.
// skipPad != 0: query rows at or past keyLen[b] are padding (no visible key: out = 0, lse = -inf,
// nothing added to dk, dv), as kernels/as/attention.ts.
struct Params { B: u32, Tq: u32, Tk: u32, Hq: u32, Hkv: u32, hd: u32, qPos0: u32, scale: f32, skipPad: u32 }

const MAX_HD = 128u;
const BQ = 64u; // queries (or keys, in dkv) per workgroup
// rows per streamed tile: 16, or 8 where workgroup memory is only the WebGPU default 16 KiB
override KT: u32 = 16u;
// head_dim as a pipeline constant (the host passes it): loops over hd get constant bounds, so
// compilers can unroll them and keep the private rows in registers.
override HD: u32 = 64u;

@group(0) @binding(0) var<uniform> P: Params;

// forward: 1 out, 2 lse, 3 q, 4 k, 5 v, 6 keyLen
@group(0) @binding(1) var<storage, read_write> fOut: array<f32>;
@group(0) @binding(2) var<storage, read_write> fLse: array<f32>;
@group(0) @binding(3) var<storage, read> fQ: array<f32>;
@group(0) @binding(4) var<storage, read> fK: array<f32>;
@group(0) @binding(5) var<storage, read> fV: array<f32>;
@group(0) @binding(6) var<storage, read> fKeyLen: array<i32>;

// delta: 1 ld (lse then delta, each [B,Hq,Tq]; this writes the delta half), 2 dout, 3 out
@group(0) @binding(1) var<storage, read_write> tDelta: array<f32>;
@group(0) @binding(2) var<storage, read> tDout: array<f32>;
@group(0) @binding(3) var<storage, read> tOut: array<f32>;

// lse and delta share one buffer (the host copies lse into its first half) so that the dkv pass
// binds 8 storage buffers, the WebGPU default maxStorageBuffersPerShaderStage.
// dq: 1 dq, 2 dout, 3 q, 4 k, 5 v, 6 ld, 7 keyLen
@group(0) @binding(1) var<storage, read_write> qDq: array<f32>;
@group(0) @binding(2) var<storage, read> qDout: array<f32>;
@group(0) @binding(3) var<storage, read> qQ: array<f32>;
@group(0) @binding(4) var<storage, read> qK: array<f32>;
@group(0) @binding(5) var<storage, read> qV: array<f32>;
@group(0) @binding(6) var<storage, read> qLd: array<f32>;
@group(0) @binding(7) var<storage, read> qKeyLen: array<i32>;

// dkv: 1 dk, 2 dv, 3 dout, 4 q, 5 k, 6 v, 7 ld, 8 keyLen
@group(0) @binding(1) var<storage, read_write> kDk: array<f32>;
@group(0) @binding(2) var<storage, read_write> kDv: array<f32>;
@group(0) @binding(3) var<storage, read> kDout: array<f32>;
@group(0) @binding(4) var<storage, read> kQ: array<f32>;
@group(0) @binding(5) var<storage, read> kK: array<f32>;
@group(0) @binding(6) var<storage, read> kV: array<f32>;
@group(0) @binding(7) var<storage, read> kLd: array<f32>;
@group(0) @binding(8) var<storage, read> kKeyLen: array<i32>;

var<workgroup> tileA: array<f32, KT * MAX_HD>;
var<workgroup> tileB: array<f32, KT * MAX_HD>;
var<workgroup> tileL: array<f32, KT>;
var<workgroup> tileD: array<f32, KT>;
var<workgroup> bound: u32;

/** Keys visible to query i given kl = min(keyLen[b], Tk): j < result. */
fn visibleKeys(kl: i32, i: u32) -> u32 {
  return u32(max(0, min(i32(P.qPos0) + i32(i) + 1, kl)));
}

/** Whether query i is padding that skipPad leaves out. */
fn padQuery(kl: i32, i: u32) -> bool {
  return P.skipPad != 0u && i32(P.qPos0) + i32(i) >= kl;
}

fn qRow(b: u32, i: u32, h: u32) -> u32 { return ((b * P.Tq + i) * P.Hq + h) * HD; }
fn kvRow(b: u32, j: u32, g: u32) -> u32 { return ((b * P.Tk + j) * P.Hkv + g) * HD; }

fn negInf() -> f32 { return bitcast<f32>(0xff800000u | (P.B & 0u)); }

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let h = wid.y;
  let g = h / (P.Hq / P.Hkv);
  let i = wid.x * BQ + lid;
  let hd = HD;
  let kl = min(fKeyLen[b], i32(P.Tk));
  if (lid == 0u) { bound = visibleKeys(kl, min(wid.x * BQ + BQ - 1u, P.Tq - 1u)); }
  let nkMax = workgroupUniformLoad(&bound);
  let valid = i < P.Tq;
  var nk = 0u;
  if (valid && !padQuery(kl, i)) { nk = visibleKeys(kl, i); }

  var q: array<f32, MAX_HD>;
  var acc: array<f32, MAX_HD>;
  let qo = qRow(b, min(i, P.Tq - 1u), h);
  for (var c = 0u; c < hd; c++) { q[c] = fQ[qo + c]; acc[c] = 0.0; }
  var m = negInf();
  var l = 0.0;

  for (var t0 = 0u; t0 < nkMax; t0 += KT) {
    for (var e = lid; e < KT * hd; e += BQ) {
      let j = t0 + e / hd;
      var kv = 0.0;
      var vv = 0.0;
      if (j < nkMax) { let o = kvRow(b, j, g) + e % hd; kv = fK[o]; vv = fV[o]; }
      tileA[e] = kv;
      tileB[e] = vv;
    }
    workgroupBarrier();
    let end = min(KT, max(nk, t0) - t0);
    if (end > 0u) {
      // scores of the whole tile first, so the running output is rescaled once per tile
      var sc: array<f32, 16>; // KT <= 16
      var tileMax = m;
      for (var jj = 0u; jj < end; jj++) {
        var s = 0.0;
        for (var c = 0u; c < hd; c++) { s += q[c] * tileA[jj * hd + c]; }
        sc[jj] = s * P.scale;
        tileMax = max(tileMax, sc[jj]);
      }
      let corr = exp(m - tileMax); // exp(-inf) = 0 before the first key
      l *= corr;
      for (var c = 0u; c < hd; c++) { acc[c] *= corr; }
      for (var jj = 0u; jj < end; jj++) {
        let p = exp(sc[jj] - tileMax);
        l += p;
        for (var c = 0u; c < hd; c++) { acc[c] += p * tileB[jj * hd + c]; }
      }
      m = tileMax;
    }
    workgroupBarrier();
  }

  if (!valid) { return; }
  let lseIdx = (b * P.Hq + h) * P.Tq + i;
  if (nk == 0u) {
    for (var c = 0u; c < hd; c++) { fOut[qo + c] = 0.0; }
    fLse[lseIdx] = negInf();
    return;
  }
  let inv = 1.0 / l;
  for (var c = 0u; c < hd; c++) { fOut[qo + c] = acc[c] * inv; }
  fLse[lseIdx] = m + log(l);
}

// delta[b,h,i] = dout_i . out_i, one invocation per query row, rows in lse order
@compute @workgroup_size(256)
fn attention_backward_delta(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (r >= P.B * P.Hq * P.Tq) { return; }
  let i = r % P.Tq;
  let h = (r / P.Tq) % P.Hq;
  let b = r / (P.Tq * P.Hq);
  let o = qRow(b, i, h);
  var s = 0.0;
  for (var c = 0u; c < HD; c++) { s += tDout[o + c] * tOut[o + c]; }
  tDelta[P.B * P.Hq * P.Tq + r] = s;
}

@compute @workgroup_size(64)
fn attention_backward_dq(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let h = wid.y;
  let g = h / (P.Hq / P.Hkv);
  let i = wid.x * BQ + lid;
  let hd = HD;
  let kl = min(qKeyLen[b], i32(P.Tk));
  if (lid == 0u) { bound = visibleKeys(kl, min(wid.x * BQ + BQ - 1u, P.Tq - 1u)); }
  let nkMax = workgroupUniformLoad(&bound);
  let valid = i < P.Tq;
  var nk = 0u;
  if (valid && !padQuery(kl, i)) { nk = visibleKeys(kl, i); }

  var q: array<f32, MAX_HD>;
  var dO: array<f32, MAX_HD>;
  var dq: array<f32, MAX_HD>;
  let ic = min(i, P.Tq - 1u);
  let qo = qRow(b, ic, h);
  for (var c = 0u; c < hd; c++) { q[c] = qQ[qo + c]; dO[c] = qDout[qo + c]; dq[c] = 0.0; }
  let L = qLd[(b * P.Hq + h) * P.Tq + ic];
  let D = qLd[P.B * P.Hq * P.Tq + (b * P.Hq + h) * P.Tq + ic];

  for (var t0 = 0u; t0 < nkMax; t0 += KT) {
    for (var e = lid; e < KT * hd; e += BQ) {
      let j = t0 + e / hd;
      var kv = 0.0;
      var vv = 0.0;
      if (j < nkMax) { let o = kvRow(b, j, g) + e % hd; kv = qK[o]; vv = qV[o]; }
      tileA[e] = kv;
      tileB[e] = vv;
    }
    workgroupBarrier();
    let end = min(KT, max(nk, t0) - t0);
    for (var jj = 0u; jj < end; jj++) {
      var s = 0.0;
      var dp = 0.0;
      for (var c = 0u; c < hd; c++) { s += q[c] * tileA[jj * hd + c]; dp += dO[c] * tileB[jj * hd + c]; }
      let p = exp(s * P.scale - L);
      let ds = p * (dp - D) * P.scale;
      for (var c = 0u; c < hd; c++) { dq[c] += ds * tileA[jj * hd + c]; }
    }
    workgroupBarrier();
  }
  if (valid) {
    for (var c = 0u; c < hd; c++) { qDq[qo + c] = dq[c]; }
  }
}

@compute @workgroup_size(64)
fn attention_backward_dkv(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let g = wid.y;
  let group = P.Hq / P.Hkv;
  let j0 = wid.x * BQ;
  let j = j0 + lid;
  let hd = HD;
  let kl = min(kKeyLen[b], i32(P.Tk));
  let valid = j < P.Tk;
  let live = i32(j) < kl;
  // query i sees key j iff i >= j - qPos0; the block's first key bounds where its queries start
  if (lid == 0u) {
    // a block made only of padding keys skips the loop: dk = dv = 0
    bound = select(u32(clamp(i32(j0) - i32(P.qPos0), 0, i32(P.Tq))), P.Tq, i32(j0) >= kl);
  }
  let iStart = workgroupUniformLoad(&bound);

  var kr: array<f32, MAX_HD>;
  var vr: array<f32, MAX_HD>;
  var dk: array<f32, MAX_HD>;
  var dv: array<f32, MAX_HD>;
  let ko = kvRow(b, min(j, P.Tk - 1u), g);
  for (var c = 0u; c < hd; c++) { kr[c] = kK[ko + c]; vr[c] = kV[ko + c]; dk[c] = 0.0; dv[c] = 0.0; }

  for (var hh = 0u; hh < group; hh++) {
    let h = g * group + hh;
    for (var i0 = iStart; i0 < P.Tq; i0 += KT) {
      for (var e = lid; e < KT * hd; e += BQ) {
        let i = i0 + e / hd;
        var qv = 0.0;
        var dov = 0.0;
        if (i < P.Tq) { let o = qRow(b, i, h) + e % hd; qv = kQ[o]; dov = kDout[o]; }
        tileA[e] = qv;
        tileB[e] = dov;
      }
      if (lid < KT) {
        let i = i0 + lid;
        var Lv = 0.0;
        var Dv = 0.0;
        if (i < P.Tq) { Lv = kLd[(b * P.Hq + h) * P.Tq + i]; Dv = kLd[P.B * P.Hq * P.Tq + (b * P.Hq + h) * P.Tq + i]; }
        tileL[lid] = Lv;
        tileD[lid] = Dv;
      }
      workgroupBarrier();
      if (valid && live) {
        for (var ii = 0u; ii < KT; ii++) {
          let i = i0 + ii;
          if (i >= P.Tq || padQuery(kl, i)) { break; }
          if (i32(P.qPos0) + i32(i) < i32(j)) { continue; }
          var s = 0.0;
          var dp = 0.0;
          for (var c = 0u; c < hd; c++) { s += tileA[ii * hd + c] * kr[c]; dp += tileB[ii * hd + c] * vr[c]; }
          let p = exp(s * P.scale - tileL[ii]);
          let ds = p * (dp - tileD[ii]) * P.scale;
          for (var c = 0u; c < hd; c++) {
            dv[c] += p * tileB[ii * hd + c];
            dk[c] += ds * tileA[ii * hd + c];
          }
        }
      }
      workgroupBarrier();
    }
  }
  if (valid) {
    for (var c = 0u; c < hd; c++) { kDk[ko + c] = dk[c]; kDv[ko + c] = dv[c]; }
  }
}
