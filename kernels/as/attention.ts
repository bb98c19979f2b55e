// Causal grouped-query attention, flash style (no T x T matrix), and its backward.
// WGSL twin: kernels/wgsl/attention.wgsl. Layouts: q/out [B,Tq,Hq,hd], k/v [B,Tk,Hkv,hd]
// (Tk is the row stride, a KV cache's capacity), lse [B,Hq,Tq], keyLen i32 [B].
// Query i of batch b sees keys j <= qPos0 + i and j < keyLen[b]; query head h reads kv head
// h / (Hq/Hkv). A query with no visible key gets out = 0, lse = -inf and zero gradients.

// ---- hd-length vector helpers (v128 body, scalar tail for hd not a multiple of 4) ----

@inline function dot(a: usize, b: usize, n: i32): f32 {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let c = 0;
  for (; c + 8 <= n; c += 8) {
    const o = <usize>c << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    acc1 = f32x4.add(acc1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  if (c + 4 <= n) {
    const o = <usize>c << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    c += 4;
  }
  const acc = f32x4.add(acc0, acc1);
  let s = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  for (; c < n; c++) s += load<f32>(a + (<usize>c << 2)) * load<f32>(b + (<usize>c << 2));
  return s;
}

/** y = alpha * y */
@inline function scaleRow(y: usize, alpha: f32, n: i32): void {
  const a4 = f32x4.splat(alpha);
  let c = 0;
  for (; c + 4 <= n; c += 4) v128.store(y + (<usize>c << 2), f32x4.mul(v128.load(y + (<usize>c << 2)), a4));
  for (; c < n; c++) store<f32>(y + (<usize>c << 2), load<f32>(y + (<usize>c << 2)) * alpha);
}

/** y += p0 x0 + p1 x1 + p2 x2 + p3 x3: one pass over y for four value rows. */
@inline function axpy4(y: usize, x0: usize, x1: usize, x2: usize, x3: usize, p0: f32, p1: f32, p2: f32, p3: f32, n: i32): void {
  const a0 = f32x4.splat(p0), a1 = f32x4.splat(p1), a2 = f32x4.splat(p2), a3 = f32x4.splat(p3);
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    const t01 = f32x4.add(f32x4.mul(v128.load(x0 + o), a0), f32x4.mul(v128.load(x1 + o), a1));
    const t23 = f32x4.add(f32x4.mul(v128.load(x2 + o), a2), f32x4.mul(v128.load(x3 + o), a3));
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.add(t01, t23)));
  }
  for (; c < n; c++) {
    const o = <usize>c << 2;
    store<f32>(y + o, load<f32>(y + o) + ((load<f32>(x0 + o) * p0 + load<f32>(x1 + o) * p1) + (load<f32>(x2 + o) * p2 + load<f32>(x3 + o) * p3)));
  }
}

@inline function axpy(y: usize, x: usize, alpha: f32, n: i32): void {
  const a4 = f32x4.splat(alpha);
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(v128.load(x + o), a4)));
  }
  for (; c < n; c++) {
    const o = <usize>c << 2;
    store<f32>(y + o, load<f32>(y + o) + load<f32>(x + o) * alpha);
  }
}

/** Keys visible to query i of batch b: j < visibleKeys. */
@inline function visibleKeys(keyLen: usize, b: i32, i: i32, Tk: i32, qPos0: i32): i32 {
  const kl = min(load<i32>(keyLen + (<usize>b << 2)), Tk);
  return max(0, min(qPos0 + i + 1, kl));
}

/**
 * Forward. Threads take query rows (b, h, i) round-robin: under the causal mask later rows see
 * more keys, and striding spreads that evenly. Each row accumulates in its own out row (no
 * scratch memory), with the online-softmax rescale done once per block of 4 keys.
 */
export function attention(out: usize, lse: usize, q: usize, k: usize, v: usize, keyLen: usize,
  B: i32, Tq: i32, Tk: i32, Hq: i32, Hkv: i32, hd: i32, qPos0: i32, scale: f32, tid: i32, nthreads: i32): void {
  const group = Hq / Hkv;
  const rows = B * Hq * Tq;
  const kvStride = <usize>(Hkv * hd) << 2; // bytes between key rows j and j+1
  for (let u = tid; u < rows; u += nthreads) {
    const i = u % Tq, bh = u / Tq, h = bh % Hq, b = bh / Hq;
    const g = h / group;
    const qr = q + ((<usize>((b * Tq + i) * Hq + h) * <usize>hd) << 2);
    const orow = out + ((<usize>((b * Tq + i) * Hq + h) * <usize>hd) << 2);
    const kb = k + ((<usize>(b * Tk * Hkv + g) * <usize>hd) << 2);
    const vb = v + ((<usize>(b * Tk * Hkv + g) * <usize>hd) << 2);
    memory.fill(orow, 0, <usize>hd << 2);
    const nk = visibleKeys(keyLen, b, i, Tk, qPos0);
    const lsePtr = lse + (<usize>u << 2); // lse [B,Hq,Tq] is exactly the order of u
    if (nk == 0) { store<f32>(lsePtr, -Infinity); continue; }
    let m: f32 = -Infinity, l: f32 = 0;
    let j = 0;
    for (; j + 4 <= nk; j += 4) {
      const k0 = kb + <usize>j * kvStride, v0 = vb + <usize>j * kvStride;
      const s0 = dot(qr, k0, hd) * scale;
      const s1 = dot(qr, k0 + kvStride, hd) * scale;
      const s2 = dot(qr, k0 + 2 * kvStride, hd) * scale;
      const s3 = dot(qr, k0 + 3 * kvStride, hd) * scale;
      const bm = max(max(s0, s1), max(s2, s3));
      if (bm > m) {
        if (m != -Infinity) {
          const a = Mathf.exp(m - bm);
          l *= a;
          scaleRow(orow, a, hd);
        }
        m = bm;
      }
      const p0 = Mathf.exp(s0 - m), p1 = Mathf.exp(s1 - m), p2 = Mathf.exp(s2 - m), p3 = Mathf.exp(s3 - m);
      l += (p0 + p1) + (p2 + p3);
      axpy4(orow, v0, v0 + kvStride, v0 + 2 * kvStride, v0 + 3 * kvStride, p0, p1, p2, p3, hd);
    }
    for (; j < nk; j++) {
      const s = dot(qr, kb + <usize>j * kvStride, hd) * scale;
      if (s > m) {
        if (m != -Infinity) {
          const a = Mathf.exp(m - s);
          l *= a;
          scaleRow(orow, a, hd);
        }
        m = s;
      }
      const p = Mathf.exp(s - m);
      l += p;
      axpy(orow, vb + <usize>j * kvStride, p, hd);
    }
    scaleRow(orow, 1.0 / l, hd);
    store<f32>(lsePtr, m + Mathf.log(l));
  }
}

/**
 * Backward (recomputes p = exp(s - lse)):
 *   D_i = dout_i . out_i;  dv_j += p_ij dout_i;  ds_ij = p_ij (dout_i . v_j - D_i)
 *   dq_i = scale sum_j ds_ij k_j;  dk_j += scale sum_i ds_ij q_i
 * Threads take (b, kv head) units: a unit owns dk/dv of that head and dq of its query heads,
 * so nothing is written by two threads. Every owned element is zeroed first, so keys past
 * keyLen end with dk = dv = 0.
 */
export function attention_backward(dq: usize, dk: usize, dv: usize, dout: usize, q: usize, k: usize, v: usize,
  out: usize, lse: usize, keyLen: usize, B: i32, Tq: i32, Tk: i32, Hq: i32, Hkv: i32, hd: i32, qPos0: i32, scale: f32,
  tid: i32, nthreads: i32): void {
  const group = Hq / Hkv;
  const units = B * Hkv;
  const kvStride = <usize>(Hkv * hd) << 2;
  const rowBytes = <usize>hd << 2;
  for (let u = tid; u < units; u += nthreads) {
    const b = u / Hkv, g = u % Hkv;
    const kvOff = (<usize>(b * Tk * Hkv + g) * <usize>hd) << 2;
    for (let j = 0; j < Tk; j++) {
      memory.fill(dk + kvOff + <usize>j * kvStride, 0, rowBytes);
      memory.fill(dv + kvOff + <usize>j * kvStride, 0, rowBytes);
    }
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let i = 0; i < Tq; i++) {
        const qOff = (<usize>((b * Tq + i) * Hq + h) * <usize>hd) << 2;
        memory.fill(dq + qOff, 0, rowBytes);
      }
    }
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let i = 0; i < Tq; i++) {
        const nk = visibleKeys(keyLen, b, i, Tk, qPos0);
        if (nk == 0) continue;
        const qOff = (<usize>((b * Tq + i) * Hq + h) * <usize>hd) << 2;
        const qr = q + qOff, dor = dout + qOff, dqr = dq + qOff;
        const L = load<f32>(lse + (<usize>((b * Hq + h) * Tq + i) << 2));
        const Di = dot(dor, out + qOff, hd);
        for (let j = 0; j < nk; j++) {
          const jo = kvOff + <usize>j * kvStride;
          const p = Mathf.exp(dot(qr, k + jo, hd) * scale - L);
          const ds = p * (dot(dor, v + jo, hd) - Di) * scale;
          // one pass over hd for the three row updates of this (i, j) pair
          const p4 = f32x4.splat(p), ds4 = f32x4.splat(ds);
          let c = 0;
          for (; c + 4 <= hd; c += 4) {
            const o = <usize>c << 2;
            v128.store(dv + jo + o, f32x4.add(v128.load(dv + jo + o), f32x4.mul(v128.load(dor + o), p4)));
            v128.store(dk + jo + o, f32x4.add(v128.load(dk + jo + o), f32x4.mul(v128.load(qr + o), ds4)));
            v128.store(dqr + o, f32x4.add(v128.load(dqr + o), f32x4.mul(v128.load(k + jo + o), ds4)));
          }
          for (; c < hd; c++) {
            const o = <usize>c << 2;
            store<f32>(dv + jo + o, load<f32>(dv + jo + o) + load<f32>(dor + o) * p);
            store<f32>(dk + jo + o, load<f32>(dk + jo + o) + load<f32>(qr + o) * ds);
            store<f32>(dqr + o, load<f32>(dqr + o) + load<f32>(k + jo + o) * ds);
          }
        }
      }
    }
  }
}
