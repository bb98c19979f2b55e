// The kernels a training step of each shape runs, at the shapes it runs them (N = rows x max
// length tokens): the frozen projections' forward y = x W^T and their input gradient dX = dY W
// for q/k/v/o/gate/up/down and the vocabulary projection, the LoRA op's forward and backward per
// projection shape (its tall-skinny products U = x A^T, y += s U B^T, dU, dX, dB, dA), causal GQA
// attention forward and backward, and plain sgemm at 1024^3 (the PyTorch yardstick).
// Identical shapes are measured once, under all their roles. The same list goes to
// bench/torch_bench.py for PyTorch's figures.
import type { AttentionDims, Backend, BufferHandle, LoraDims, MatmulParams } from '../../engine/backend.ts';
import { attentionFlops, loraBackwardFlops, loraForwardFlops, matmulFlops } from '../../engine/profile/flops.ts';
import { Rng } from '../../engine/random.ts';
import type { Shape } from './shapes.ts';

export type KernelSpec =
  | { kind: 'matmul'; p: MatmulParams }
  | { kind: 'lora_fwd'; d: LoraDims }
  | { kind: 'lora_bwd'; d: LoraDims }
  | { kind: 'attn_fwd'; d: AttentionDims }
  | { kind: 'attn_bwd'; d: AttentionDims };

export interface Kernel { id: string; shape: string; roles: string[]; spec: KernelSpec; flops: number }

export function kernelFlops(s: KernelSpec): number {
  switch (s.kind) {
    case 'matmul': return matmulFlops(s.p);
    case 'lora_fwd': return loraForwardFlops(s.d);
    case 'lora_bwd': return loraBackwardFlops(s.d, true, true);
    case 'attn_fwd': return attentionFlops(s.d, false);
    case 'attn_bwd': return attentionFlops(s.d, true);
  }
}

export function describeKernel(k: Kernel): string {
  const s = k.spec;
  switch (s.kind) {
    case 'matmul': return `matmul ${s.p.transA ? 'A^T' : 'A'}${s.p.transB ? 'B^T' : 'B'} ${s.p.M}x${s.p.N}x${s.p.K}`;
    case 'lora_fwd': case 'lora_bwd': return `LoRA ${s.kind === 'lora_fwd' ? 'forward' : 'backward'} T${s.d.T} ${s.d.inF}->${s.d.outF} r${s.d.r}`;
    case 'attn_fwd': case 'attn_bwd':
      return `attention ${s.kind === 'attn_fwd' ? 'forward' : 'backward'} B${s.d.B} T${s.d.Tq} H${s.d.Hq}/${s.d.Hkv} hd${s.d.hd}`;
  }
}

const mm = (M: number, N: number, K: number, transA: boolean, transB: boolean): KernelSpec =>
  ({ kind: 'matmul', p: { M, N, K, transA, transB, alpha: 1, beta: 0 } });

/** The kernels of one shape's training step, for `rows` sequences of `T` tokens, LoRA rank r. */
export function shapeKernels(s: Shape, rows: number, T: number, r: number): Kernel[] {
  const N = rows * T, D = s.dim, H = s.hiddenDim, hd = s.dim / s.nHeads;
  const qDim = s.nHeads * hd, kvDim = s.nKvHeads * hd;
  const proj: [string, number, number][] = [ // role, in, out
    ['q', D, qDim], ['k', D, kvDim], ['v', D, kvDim], ['o', qDim, D], ['gate', D, H], ['up', D, H], ['down', H, D],
  ];
  const out: Kernel[] = [];
  const add = (role: string, spec: KernelSpec) => {
    const id = `${s.name}:${JSON.stringify(spec)}`;
    const have = out.find((k) => k.id === id);
    if (have) { if (!have.roles.includes(role)) have.roles.push(role); return; }
    out.push({ id, shape: s.name, roles: [role], spec, flops: kernelFlops(spec) });
  };
  for (const [role, inF, outF] of proj) add(`${role} x W^T`, mm(N, outF, inF, false, true));
  add('vocab x W^T', mm(N, s.vocabSize, D, false, true));
  for (const [role, inF, outF] of proj) add(`${role} dX = dY W`, mm(N, inF, outF, false, false));
  add('vocab dX = dY W', mm(N, D, s.vocabSize, false, false));
  for (const [role, inF, outF] of proj) add(`${role} LoRA`, { kind: 'lora_fwd', d: { T: N, inF, outF, r, scale: 2 } });
  for (const [role, inF, outF] of proj) add(`${role} LoRA`, { kind: 'lora_bwd', d: { T: N, inF, outF, r, scale: 2 } });
  const ad: AttentionDims = { B: rows, Tq: T, Tk: T, Hq: s.nHeads, Hkv: s.nKvHeads, hd, qPos0: 0, scale: 1 / Math.sqrt(hd) };
  add('attention', { kind: 'attn_fwd', d: ad });
  add('attention', { kind: 'attn_bwd', d: ad });
  return out;
}

/** sgemm at 1024^3, both layouts of B. */
export function sgemmKernels(): Kernel[] {
  return [false, true].map((transB) => {
    const spec = mm(1024, 1024, 1024, false, transB);
    return { id: `sgemm:${transB}`, shape: 'sgemm', roles: [transB ? 'sgemm 1024^3, B^T' : 'sgemm 1024^3'], spec, flops: kernelFlops(spec) };
  });
}

/** Fastest of repeated calls: another process on the machine only ever slows a call down. */
export interface KernelTime { id: string; bestMs: number; reps: number }

function random(n: number, rng: Rng): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.next() - 0.5;
  return x;
}

/** Times each kernel on `backend`: repetitions for at least `minSeconds` (and 3), after one untimed call. */
export async function timeKernels(backend: Backend, kernels: Kernel[], minSeconds: number,
  onDone?: (k: Kernel, t: KernelTime) => void): Promise<KernelTime[]> {
  const rng = new Rng(11);
  const out: KernelTime[] = [];
  for (const k of kernels) {
    const bufs: BufferHandle[] = [];
    const buf = (n: number, fill = true) => {
      const b = backend.alloc('f32', Math.max(1, n));
      if (fill) backend.write(b, random(n, rng));
      bufs.push(b);
      return b;
    };
    let call: () => void;
    const s = k.spec;
    if (s.kind === 'matmul') {
      const { M, N, K } = s.p;
      const a = buf(M * K), b = buf(K * N), c = buf(M * N, false);
      call = () => backend.matmul(c, a, b, s.p);
    } else if (s.kind === 'lora_fwd' || s.kind === 'lora_bwd') {
      const { T, inF, outF, r } = s.d;
      const x = buf(T * inF), a = buf(r * inF), bb = buf(outF * r), y = buf(T * outF), u = buf(T * r);
      if (s.kind === 'lora_fwd') call = () => backend.loraForward(y, u, x, a, bb, null, s.d);
      else {
        const dx = buf(T * inF), dA = buf(r * inF, false), dB = buf(outF * r, false), du = buf(T * r, false);
        call = () => backend.loraBackward(dx, dA, dB, du, y, x, a, bb, u, null, s.d);
      }
    } else {
      const d = s.d, qn = d.B * d.Tq * d.Hq * d.hd, kn = d.B * d.Tk * d.Hkv * d.hd;
      const q = buf(qn), kk = buf(kn), v = buf(kn), o = buf(qn, false), lse = buf(d.B * d.Hq * d.Tq, false);
      const keyLen = backend.alloc('i32', d.B);
      bufs.push(keyLen);
      backend.write(keyLen, new Int32Array(d.B).fill(d.Tk));
      backend.attention(o, lse, q, kk, v, keyLen, d);
      if (s.kind === 'attn_fwd') call = () => backend.attention(o, lse, q, kk, v, keyLen, d);
      else {
        const dq = buf(qn, false), dk = buf(kn, false), dv = buf(kn, false), dout = buf(qn);
        call = () => backend.attentionBackward(dq, dk, dv, dout, q, kk, v, o, lse, keyLen, d);
      }
    }
    call();
    await backend.sync();
    let reps = 0, best = Infinity;
    const t0 = performance.now();
    while (reps < 3 || performance.now() - t0 < minSeconds * 1000) {
      const t = performance.now();
      call();
      await backend.sync();
      best = Math.min(best, performance.now() - t);
      reps++;
    }
    for (const b of bufs) backend.free(b);
    const r = { id: k.id, bestMs: best, reps };
    out.push(r);
    onDone?.(k, r);
  }
  return out;
}
