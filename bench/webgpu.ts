// WebGPU throughput: matmul and attention (forward, backward) GFLOP/s on whatever adapter
// dawn.node finds, timed with GPU timestamps when the adapter has timestamp-query, else with
// wall time around sync(), best of a few runs. Shapes stay small so that a CPU adapter (lavapipe) finishes in
// well under a minute. Usage: node --import tsx bench/webgpu.ts [--large]
import type { AttentionDims } from '../engine/backend.ts';
import { createWebGPUBackend, type WebGPUBackend } from '../bindings/webgpu/backend.ts';

const large = process.argv.includes('--large');
const be = await createWebGPUBackend({ quiet: true, timing: true });
console.log(`adapter: ${be.description}`);
console.log(`timing: ${be.timingEnabled ? 'GPU timestamps' : 'wall clock around sync()'}`);

function randomBuffer(n: number): ReturnType<WebGPUBackend['alloc']> {
  const b = be.alloc('f32', n);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 12.9898) * 0.5;
  be.write(b, data);
  return b;
}

/**
 * Seconds per call of `run` (which dispatches the kernels named in `kernels`): the best of
 * `reps` runs, since a shared machine (and a CPU adapter) adds noise that only ever slows down.
 */
async function time(run: () => void, kernels: string[], reps: number): Promise<number> {
  run(); // warm-up: pipeline compilation
  await be.sync();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const before = be.kernelTimes();
    const t0 = performance.now();
    run();
    await be.sync();
    let s = (performance.now() - t0) / 1000;
    if (be.timingEnabled) {
      const after = be.kernelTimes();
      let ms = 0;
      for (const k of kernels) ms += (after.get(k)?.ms ?? 0) - (before.get(k)?.ms ?? 0);
      s = ms / 1000;
    }
    best = Math.min(best, s);
  }
  return best;
}

const fmt = (flops: number, s: number): string => `${(flops / s / 1e9).toFixed(2).padStart(8)} GFLOP/s  (${(s * 1e3).toFixed(2)} ms)`;

const mm = large ? [[1024, 1024, 1024], [2048, 2048, 2048], [4096, 4096, 1024]] : [[128, 128, 128], [256, 256, 256], [384, 512, 320]];
for (const [M, N, K] of mm) {
  for (const transB of [false, true]) {
    const a = randomBuffer(M * K), b = randomBuffer(K * N), c = be.alloc('f32', M * N);
    const s = await time(() => be.matmul(c, a, b, { M, N, K, transA: false, transB, alpha: 1, beta: 0 }), ['matmul'], large ? 10 : 3);
    console.log(`matmul ${M}x${N}x${K}${transB ? ' B^T' : '    '}  ${fmt(2 * M * N * K, s)}`);
    be.free(a); be.free(b); be.free(c);
  }
  if (be.hasF16) {
    const a = randomBuffer(M * K), b = be.allocF16(K * N), c = be.alloc('f32', M * N);
    be.writeF16(b, new Float32Array(K * N).fill(0.25));
    const s = await time(() => be.matmulF16B(c, a, b, { M, N, K, transA: false, transB: true, alpha: 1, beta: 0 }), ['matmul_f16b'], large ? 10 : 3);
    console.log(`matmul ${M}x${N}x${K} B^T f16  ${fmt(2 * M * N * K, s)}`);
    be.free(a); be.free(b); be.free(c);
  }
}

const attn: AttentionDims[] = (large ? [[4, 1024, 32, 8, 128], [8, 512, 32, 32, 64]] : [[1, 128, 4, 2, 64], [1, 256, 8, 4, 64]])
  .map(([B, T, Hq, Hkv, hd]) => ({ B, Tq: T, Tk: T, Hq, Hkv, hd, qPos0: 0, scale: 1 / Math.sqrt(hd) }));
for (const d of attn) {
  const nq = d.B * d.Tq * d.Hq * d.hd, nk = d.B * d.Tk * d.Hkv * d.hd;
  const q = randomBuffer(nq), k = randomBuffer(nk), v = randomBuffer(nk), out = be.alloc('f32', nq);
  const lse = be.alloc('f32', d.B * d.Hq * d.Tq), keyLen = be.alloc('i32', d.B);
  be.write(keyLen, new Int32Array(d.B).fill(d.Tk));
  const dq = be.alloc('f32', nq), dk = be.alloc('f32', nk), dv = be.alloc('f32', nk), dout = randomBuffer(nq);
  // causal: half of the T x T scores; QK^T and PV are 2*hd flops per score each
  const fwdFlops = 4 * d.B * d.Hq * d.hd * (d.Tq * (d.Tq + 1) / 2);
  const sf = await time(() => be.attention(out, lse, q, k, v, keyLen, d), ['attention'], 2);
  const sb = await time(() => be.attentionBackward(dq, dk, dv, dout, q, k, v, out, lse, keyLen, d),
    ['attention_backward_delta', 'attention_backward_dq', 'attention_backward_dkv'], 2);
  const name = `attention B=${d.B} T=${d.Tq} Hq=${d.Hq} Hkv=${d.Hkv} hd=${d.hd}`;
  console.log(`${name} forward   ${fmt(fwdFlops, sf)}`);
  // backward recomputes the scores twice (dq and dk/dv passes): 2 + 2 + 2 + 2 + 2 flop-units
  console.log(`${name} backward  ${fmt(2.5 * fwdFlops, sb)}  (counting 2.5x forward flops)`);
  for (const b of [q, k, v, out, lse, keyLen, dq, dk, dv, dout]) be.free(b);
}
await be.destroy();
