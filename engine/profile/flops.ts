// Floating-point operations of one Backend op call, counted from its dimensions (a multiply-add
// is 2), for GFLOP/s in the profiler's table and the benchmark harness. Ops that move more bytes
// than they compute (norms, elementwise, cross-entropy) count null: their rate is not a FLOP rate.
//
// Attention counts the causal (query, key) pairs the dims allow, as FlashAttention's papers do:
// forward QK^T and PV (2 x 2*hd per pair), backward the recomputed QK^T, dO V^T, dV, dK and dQ
// (5 x 2*hd). Key lengths live in a buffer (padding), so they are not counted: the figure is
// the nominal work of the shape.
import type { AttentionDims, LoraDims, MatmulParams } from '../backend.ts';
import type { BackendCall } from './instrument.ts';

/** Causal (query, key) pairs of one head of one sequence: query i sees keys 0..qPos0+i (at most Tk). */
export function causalPairs(d: Pick<AttentionDims, 'Tq' | 'Tk' | 'qPos0'>): number {
  let n = 0;
  for (let i = 0; i < d.Tq; i++) n += Math.min(d.qPos0 + i + 1, d.Tk);
  return n;
}

export function matmulFlops(p: Pick<MatmulParams, 'M' | 'N' | 'K'>): number { return 2 * p.M * p.N * p.K; }

export function loraForwardFlops(d: LoraDims): number { return 2 * d.T * d.r * (d.inF + d.outF); }

/** dU and dX always; dB and dA when wanted. */
export function loraBackwardFlops(d: LoraDims, dA: boolean, dB: boolean): number {
  return 2 * d.T * d.r * (d.outF + d.inF + (dB ? d.outF : 0) + (dA ? d.inF : 0));
}

export function attentionFlops(d: AttentionDims, backward: boolean): number {
  return (backward ? 10 : 4) * d.hd * d.B * d.Hq * causalPairs(d);
}

/** FLOPs of a call as instrumentBackend reports it (name and arguments), or null. */
export function opFlops(name: BackendCall, args: readonly unknown[]): number | null {
  switch (name) {
    case 'matmul': case 'matmulF16B': return matmulFlops(args[3] as MatmulParams);
    case 'loraForward': return loraForwardFlops(args[6] as LoraDims);
    case 'loraBackward': return loraBackwardFlops(args[10] as LoraDims, args[1] !== null, args[2] !== null);
    case 'attention': return attentionFlops(args[6] as AttentionDims, false);
    case 'attentionBackward': return attentionFlops(args[10] as AttentionDims, true);
    default: return null;
  }
}
