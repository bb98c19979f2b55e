// Decoding state shared by every family: a per-layer key/value cache for B sequences, and the
// device-side description of one chunk of tokens to run through it (CausalLM.decode).
//
// Row b of the cache holds sequence b's keys at slots b*capacity + position. A chunk gives each
// sequence up to T new tokens (right-padded): sequence b's tokens sit at positions start[b] ..
// start[b]+lengths[b]-1. The model writes their keys and values at those slots (the slots are
// still zero: nothing is written twice, so a scatter-add writes them exactly) and attends keys
// j < start[b]+lengths[b] of its row, causally. Either every sequence starts at the same position
// (a prompt chunk) or T is 1 (one token per sequence per step): the attention kernel takes one
// query offset for the whole batch, and with one query per row the per-row key count is the
// whole causal mask.
import { Arena } from '../arena.ts';
import type { Backend } from '../backend.ts';
import { fill } from '../ops/elementwise.ts';
import { Tensor } from '../tensor.ts';

export class KVCache {
  /** per layer: [batch * capacity, width] */
  readonly k: Tensor[];
  readonly v: Tensor[];

  constructor(readonly backend: Backend, nLayers: number, readonly batch: number, readonly capacity: number, readonly width: number) {
    if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(capacity) || capacity < 1) {
      throw new Error(`KVCache: bad batch ${batch} or capacity ${capacity}`);
    }
    this.k = []; this.v = [];
    try {
      for (let l = 0; l < nLayers; l++) {
        this.k.push(Tensor.zeros(backend, [batch * capacity, width]));
        this.v.push(Tensor.zeros(backend, [batch * capacity, width]));
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Empties the cache (every slot back to zero) for another set of sequences. */
  reset(): void {
    for (const t of [...this.k, ...this.v]) fill(t, 0);
  }

  dispose(): void {
    for (const t of [...this.k, ...this.v]) t.dispose();
  }
}

/** One chunk of tokens on the device, as CausalLM.decode reads it. */
export interface DecodeChunk {
  B: number;
  T: number;
  /** i32 [B*T] token ids (padding: 0) */
  ids: Tensor;
  /** the same ids on the host, for the model's range check */
  hostIds: Int32Array;
  /** i32 [B*T] position of each token (padding: 0) */
  positions: Tensor;
  /** the same positions on the host, for families that derive their own position ids */
  hostPositions: Int32Array;
  /** i32 [B*T] cache row of each token (b*capacity + position), -1 for padding (not written) */
  slots: Tensor;
  /** i32 [B]: keys each sequence attends, start + length */
  keyLen: Tensor;
  /** position of query row 0, for the attention kernel's causal mask */
  qPos0: number;
  /** i32 [B]: index (in the B*T rows) of each sequence's last token, whose logits decode returns */
  lastRows: Tensor;
  dispose(): void;
}

/**
 * The chunk `ids` ([B*T], row b's first lengths[b] entries used) at positions start[b]..; checked
 * against the cache's capacity. A sequence with length 0 is idle: nothing is written for it and
 * its returned logits mean nothing.
 */
export function makeChunk(cache: KVCache, ids: Int32Array, T: number, start: Int32Array, lengths: Int32Array): DecodeChunk {
  const B = cache.batch, cap = cache.capacity;
  if (start.length !== B || lengths.length !== B || ids.length !== B * T || T < 1) {
    throw new Error(`decode chunk: ${ids.length} ids, ${start.length} starts, ${lengths.length} lengths for a cache of ${B} sequences, T = ${T}`);
  }
  let first = -1, maxStart = 0, uniform = true;
  for (let b = 0; b < B; b++) {
    const s = start[b], n = lengths[b];
    if (!(n >= 0 && n <= T && s >= 0 && s + n <= cap)) {
      throw new Error(`decode chunk: sequence ${b} puts ${n} tokens at positions ${s}.. in a cache of ${cap} (T = ${T})`);
    }
    if (n === 0) continue;
    if (first < 0) first = s; else if (s !== first) uniform = false;
    maxStart = Math.max(maxStart, s);
  }
  if (!uniform && T > 1) throw new Error('decode chunk: sequences starting at different positions must come one token at a time (T = 1)');
  const positions = new Int32Array(B * T), slots = new Int32Array(B * T).fill(-1), tokens = new Int32Array(B * T);
  const keyLen = new Int32Array(B), lastRows = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const n = lengths[b];
    for (let t = 0; t < n; t++) {
      const i = b * T + t;
      tokens[i] = ids[i];
      positions[i] = start[b] + t;
      slots[i] = b * cap + start[b] + t;
    }
    keyLen[b] = n > 0 ? start[b] + n : 0;
    lastRows[b] = b * T + Math.max(0, n - 1);
  }
  const be = cache.backend;
  const made: Tensor[] = [];
  const up = (shape: number[], data: Int32Array) => { const t = Arena.of(be).from(shape, data); made.push(t); return t; };
  try {
    return {
      B, T, qPos0: T === 1 ? maxStart : Math.max(0, first), hostIds: tokens, hostPositions: positions,
      ids: up([B * T], tokens), positions: up([B * T], positions), slots: up([B * T], slots),
      keyLen: up([B], keyLen), lastRows: up([B], lastRows),
      dispose: () => { for (const t of made) t.dispose(); },
    };
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}
