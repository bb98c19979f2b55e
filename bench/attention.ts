// Times the WASM attention and rmsnorm kernels on training-sized shapes.
// Usage: node --import tsx bench/attention.ts [threads]   (1 thread: CPU time, steadier on a busy machine)
import { createWasmBackend } from '../bindings/wasm/backend.ts';
import { Tensor } from '../engine/tensor.ts';
import { attention, attentionBackward } from '../engine/ops/attention.ts';
import { rmsnorm, rmsnormBackward } from '../engine/ops/rmsnorm.ts';

const threads = Number(process.argv[2] ?? 2);
const backend = await createWasmBackend({ threads });

// The minimum over reps: the machine may be shared, and the minimum is the least disturbed run.
// With 1 thread the process's CPU time is used instead of wall time: it does not count the
// time the OS gave to other processes.
function time(fn: () => void, reps: number): number {
  fn();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage(), t0 = performance.now();
    fn();
    const c = process.cpuUsage(c0);
    best = Math.min(best, threads === 1 ? (c.user + c.system) / 1000 : performance.now() - t0);
  }
  return best;
}

function rnd(n: number): Float32Array { return Float32Array.from({ length: n }, () => Math.random() * 2 - 1); }

for (const [B, T, Hq, Hkv, hd] of [[1, 256, 32, 8, 64], [2, 512, 32, 4, 64], [1, 1024, 14, 2, 64]]) {
  const q = Tensor.from(backend, [B, T, Hq, hd], rnd(B * T * Hq * hd));
  const k = Tensor.from(backend, [B, T, Hkv, hd], rnd(B * T * Hkv * hd));
  const v = Tensor.from(backend, [B, T, Hkv, hd], rnd(B * T * Hkv * hd));
  const kl = Tensor.from(backend, [B], Int32Array.from({ length: B }, () => T));
  const out = Tensor.zeros(backend, q.shape), lse = Tensor.zeros(backend, [B, Hq, T]);
  const dq = Tensor.zeros(backend, q.shape), dk = Tensor.zeros(backend, k.shape), dv = Tensor.zeros(backend, k.shape);
  const dout = Tensor.from(backend, q.shape, rnd(q.size));
  // causal: about T*T/2 (query, key) pairs per head. Forward: 2*hd flops each for QK^T and PV.
  // Backward (FlashAttention's count, recompute included): QK^T, dO V^T, dV, dK, dQ = 5 x 2*hd.
  const pairFlops = B * Hq * (T * (T + 1) / 2) * hd * 2;
  const fwd = time(() => attention(out, lse, q, k, v, kl), 7);
  const bwd = time(() => attentionBackward(dq, dk, dv, dout, q, k, v, out, lse, kl), 5);
  console.log(`attention B=${B} T=${T} Hq=${Hq} Hkv=${Hkv} hd=${hd}: forward ${fwd.toFixed(1)} ms (${(2 * pairFlops / fwd / 1e6).toFixed(2)} GFLOP/s), backward ${bwd.toFixed(1)} ms (${(5 * pairFlops / bwd / 1e6).toFixed(2)} GFLOP/s)`);
  for (const t of [q, k, v, kl, out, lse, dq, dk, dv, dout]) t.dispose();
}

for (const [rows, D] of [[512, 2048], [2048, 4096]]) {
  const x = Tensor.from(backend, [rows, D], rnd(rows * D)), w = Tensor.from(backend, [D], rnd(D));
  const out = Tensor.zeros(backend, [rows, D]), rstd = Tensor.zeros(backend, [rows]);
  const dx = Tensor.zeros(backend, [rows, D]), dw = Tensor.zeros(backend, [D]), dy = Tensor.from(backend, [rows, D], rnd(rows * D));
  const fwd = time(() => rmsnorm(out, rstd, x, w, 1e-5), 10);
  const bwd = time(() => rmsnormBackward(dx, dw, dy, x, w, rstd), 10);
  const gb = (bytes: number, ms: number) => (bytes / ms / 1e6).toFixed(1);
  console.log(`rmsnorm ${rows}x${D}: forward ${fwd.toFixed(2)} ms (${gb(8 * rows * D, fwd)} GB/s), backward+dW ${bwd.toFixed(2)} ms (${gb(20 * rows * D, bwd)} GB/s)`);
  for (const t of [x, w, out, rstd, dx, dw, dy]) t.dispose();
}
await backend.destroy();
