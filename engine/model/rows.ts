// Which rows of a batch a forward computes, for every family alike (ForwardOptions.rows).
//
// 'all': every position of the B x T batch, in order: each gets its logits and attention outputs.
// 'loss': only what can reach the loss. A causal LM's row t influences rows >= t only, so every
//   row after a sequence's last labelled one (padding included) is skipped; of the rows kept, only
//   the labelled ones (shifted label not IGNORE_INDEX) go through the output projection and the
//   cross-entropy. On alignment data most tokens are prompt tokens, and with a 32,000-word
//   vocabulary the output projection is most of the step. The loss and every gradient are those of
//   'all' up to rounding (the products sum the same terms; some in another order).
//
// The rows kept sit sequence after sequence ([n, features]); attention runs on a padded layout of
// B sequences of tAtt rows, filled from them by a scatter (attIndex) where some sequence is shorter.
import type { Backend } from '../backend.ts';
import { Arena } from '../arena.ts';
import { IGNORE_INDEX } from '../ops/cross_entropy.ts';
import { copy, fill } from '../ops/elementwise.ts';
import { embedding, embeddingBackward } from '../ops/embedding.ts';
import type { Tensor } from '../tensor.ts';
import { shiftLabels } from './blocks.ts';
import type { Batch } from './causal_lm.ts';

export type RowsMode = 'all' | 'loss';

export interface RowPlan {
  /** what was asked for ('loss' falls back to 'all' for a batch without a label) */
  readonly mode: RowsMode;
  readonly B: number;
  readonly T: number;
  /** rows the layers run on */
  readonly n: number;
  /** batch position (b*T + t) of each row; null: row i is position i (all B*T rows) */
  readonly index: Int32Array | null;
  /** token id and position t of each row */
  readonly ids: Int32Array;
  readonly positions: Int32Array;
  /** attention's layout: B sequences of tAtt rows */
  readonly tAtt: number;
  /** each row's place in that layout (b*tAtt + t); null: the rows already are that layout */
  readonly attIndex: Int32Array | null;
  /** keys of each sequence in that layout (i32 [B]) */
  readonly keyLen: Int32Array;
  /** the rows (of the n) the output projection and the loss run on; null: all n */
  readonly headRows: Int32Array | null;
  /** the shifted label of each of those rows */
  readonly labels: Int32Array;
  /** labels that count in the mean */
  readonly count: number;
}

/** The rows a forward over `batch` computes in `mode` (see the file header). */
export function planRows(batch: Batch, mode: RowsMode): RowPlan {
  const { B, T } = batch;
  const N = B * T;
  const { shifted, count } = shiftLabels(batch);
  const reach = new Int32Array(B); // 1 + the last labelled row of each sequence
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) if (shifted[b * T + t] !== IGNORE_INDEX) reach[b] = t + 1;
  }
  if (mode === 'all' || count === 0) {
    return {
      mode: 'all', B, T, n: N, index: null, ids: batch.ids, positions: Int32Array.from({ length: N }, (_, i) => i % T),
      tAtt: T, attIndex: null, keyLen: batch.lengths, headRows: null, labels: shifted, count,
    };
  }
  let n = 0, tAtt = 0;
  for (let b = 0; b < B; b++) { n += reach[b]; tAtt = Math.max(tAtt, reach[b]); }
  const index = new Int32Array(n), ids = new Int32Array(n), positions = new Int32Array(n), attIndex = new Int32Array(n);
  const headRows = new Int32Array(count), labels = new Int32Array(count);
  const keyLen = new Int32Array(B);
  let i = 0, h = 0;
  for (let b = 0; b < B; b++) {
    // the rows kept are the sequence's first reach[b]: its queries see keys j <= t < reach[b]
    keyLen[b] = Math.min(batch.lengths[b], reach[b]);
    for (let t = 0; t < reach[b]; t++, i++) {
      index[i] = b * T + t;
      ids[i] = batch.ids[b * T + t];
      positions[i] = t;
      attIndex[i] = b * tAtt + t;
      const lab = shifted[b * T + t];
      if (lab !== IGNORE_INDEX) { headRows[h] = i; labels[h] = lab; h++; }
    }
  }
  const sameLayout = reach.every((r) => r === tAtt);
  return {
    mode: 'loss', B, T, n, index, ids, positions, tAtt, attIndex: sameLayout ? null : attIndex, keyLen,
    headRows: count === n ? null : headRows, labels, count,
  };
}

/**
 * Host values per batch position ([B*T, width]) as the plan's rows ([n, width]): e.g. noise drawn
 * for every position, kept at the positions the forward computes.
 */
export function gatherRowsHost(plan: RowPlan, data: Float32Array, width: number): Float32Array {
  if (!plan.index) return data;
  const out = new Float32Array(plan.n * width);
  for (let i = 0; i < plan.n; i++) out.set(data.subarray(plan.index[i] * width, (plan.index[i] + 1) * width), i * width);
  return out;
}

/**
 * The plan's rows ([n, width]) spread over every batch position ([B*T, width]), zeros at the
 * positions the forward skipped; a new tensor (the caller disposes it).
 */
export function scatterRows(backend: Backend, plan: RowPlan, rows: Tensor): Tensor {
  const width = rows.size / Math.max(1, plan.n);
  const arena = Arena.of(backend);
  if (!plan.index) {
    const out = arena.take([plan.n, width]);
    copy(out, rows);
    return out;
  }
  const out = arena.zeros([plan.B * plan.T, width]);
  const idx = arena.from([plan.n], plan.index);
  try {
    embeddingBackward(out, rows.view([plan.n, width]), idx);
  } finally { idx.dispose(); }
  return out;
}

/**
 * A plan's index arrays on the device (from the backend's arena), and the moves between its
 * layouts: the rows, attention's padded layout, and the head's rows.
 */
export class DeviceRows {
  /** token id and position of each row (i32 [n]) */
  readonly ids: Tensor;
  readonly positions: Tensor;
  /** keys per sequence (i32 [B]) */
  readonly keyLen: Tensor;
  /** shifted labels of the head's rows (i32 [M]) */
  readonly labels: Tensor;
  /** batch position of each row (i32 [n]); null: all positions */
  readonly index: Tensor | null;
  readonly attIndex: Tensor | null;
  readonly headRows: Tensor | null;

  constructor(readonly backend: Backend, readonly plan: RowPlan) {
    const arena = Arena.of(backend);
    const made: Tensor[] = [];
    const up = (data: Int32Array, key: string) => { const t = arena.from([data.length], data, 'rows.' + key); made.push(t); return t; };
    try {
      this.ids = up(plan.ids, 'ids');
      this.positions = up(plan.positions, 'positions');
      this.keyLen = up(plan.keyLen, 'keyLen');
      this.labels = up(plan.labels, 'labels');
      this.index = plan.index ? up(plan.index, 'index') : null;
      this.attIndex = plan.attIndex ? up(plan.attIndex, 'attIndex') : null;
      this.headRows = plan.headRows ? up(plan.headRows, 'headRows') : null;
    } catch (e) {
      for (const t of made) t.dispose();
      throw e;
    }
  }

  /** rows the output projection runs on */
  get headCount(): number { return this.plan.headRows ? this.plan.headRows.length : this.plan.n; }

  /** dst (attention's layout, [B*tAtt, w]) = the rows [n, w] in their places, zeros elsewhere. Needs attIndex. */
  toAttention(dst: Tensor, rows: Tensor): void {
    fill(dst, 0);
    embeddingBackward(dst, rows, this.attIndex!);
  }

  /** dst [n, w] = the rows' places of att (attention's layout). Needs attIndex. */
  fromAttention(dst: Tensor, att: Tensor): void {
    embedding(dst, att, this.attIndex!);
  }

  /** dst [M, w] = the head's rows of rows [n, w]. Needs headRows. */
  toHead(dst: Tensor, rows: Tensor): void {
    embedding(dst, rows, this.headRows!);
  }

  /** dst [n, w] = head [M, w] at the head's rows, zeros elsewhere. Needs headRows. */
  fromHead(dst: Tensor, head: Tensor): void {
    fill(dst, 0);
    embeddingBackward(dst, head, this.headRows!);
  }

  dispose(): void {
    for (const t of [this.ids, this.positions, this.keyLen, this.labels, this.index, this.attIndex, this.headRows]) t?.dispose();
  }
}
