// The model shapes the harness measures and the batch every step runs on: the reference
// setting (5 rows of safety_refusals.jsonl, max length 200), tokenized with the shape's real
// tokenizer where the shared data has it (stories260K: tok512.bin beside the checkpoint; the
// 32000-word shapes: llama2/tokenizer.model), else random tokens of the same size.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collate } from '../../engine/data.ts';
import { prepareData } from '../../engine/jobs/dataset.ts';
import type { Batch } from '../../engine/model/causal_lm.ts';
import type { LlamaConfig } from '../../engine/model/llama/config.ts';
import { Rng } from '../../engine/random.ts';
import { loadTokenizer } from '../../engine/tokenizer/load.ts';

export interface Shape {
  name: string;
  /** what it is the shape of */
  model: string;
  dim: number; hiddenDim: number; nLayers: number; nHeads: number; nKvHeads: number; vocabSize: number;
  maxSeqLen: number;
  /** its tokenizer, relative to the shared data directory */
  tokenizer: string;
  /** timed steps per method when --steps is not given */
  defaultSteps: number;
}

// llama2.c's TinyStories checkpoints (their params; weights random here)
export const SHAPES: Record<string, Shape> = {
  '260k': {
    name: '260k', model: 'stories260K', dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512,
    maxSeqLen: 512, tokenizer: 'models/stories260K/tok512.bin', defaultSteps: 5,
  },
  '15m': {
    name: '15m', model: 'stories15M', dim: 288, hiddenDim: 768, nLayers: 6, nHeads: 6, nKvHeads: 6, vocabSize: 32000,
    maxSeqLen: 256, tokenizer: 'tokenizers/llama2/tokenizer.model', defaultSteps: 3,
  },
  '110m': {
    name: '110m', model: 'stories110M', dim: 768, hiddenDim: 2048, nLayers: 12, nHeads: 12, nKvHeads: 12, vocabSize: 32000,
    maxSeqLen: 1024, tokenizer: 'tokenizers/llama2/tokenizer.model', defaultSteps: 2,
  },
};

export function shapeLabel(s: Shape): string {
  return `${s.model} (d${s.dim}, L${s.nLayers}, V${s.vocabSize})`;
}

export function llamaConfig(s: Shape): LlamaConfig {
  return {
    family: 'llama', vocabSize: s.vocabSize, dim: s.dim, hiddenDim: s.hiddenDim, nLayers: s.nLayers,
    nHeads: s.nHeads, nKvHeads: s.nKvHeads, headDim: s.dim / s.nHeads, maxSeqLen: s.maxSeqLen,
    ropeTheta: 10000, normEps: 1e-5, ropeInterleaved: false, tiedEmbeddings: true, attentionBias: false,
    bosId: 1, eosId: 2, source: 'hf', namePath: `bench:${s.model}`,
  };
}

/** The shared data directory ($VACCINE_SHARED_DATA, else ../shared/data beside the repository). */
export function sharedData(): string {
  return process.env.VACCINE_SHARED_DATA ?? new URL('../../../shared/data', import.meta.url).pathname;
}

export interface BatchSpec { rows: number; maxLength: number }

/** The batch a step runs on, and where it came from. */
export function benchBatch(s: Shape, spec: BatchSpec): { batch: Batch; source: string } {
  const data = join(sharedData(), 'alignment/safety_refusals.jsonl');
  const tok = join(sharedData(), s.tokenizer);
  if (existsSync(data) && existsSync(tok)) {
    const lines = readFileSync(data, 'utf8').split('\n').filter((l) => l.trim()).slice(0, spec.rows);
    const rows = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const prepared = prepareData(rows, loadTokenizer(tok), llamaConfig(s), { maxLength: spec.maxLength, batchSize: spec.rows, seed: 0, shuffle: false });
    return {
      batch: collate(prepared.examples, prepared.padId),
      source: `${rows.length} rows of safety_refusals.jsonl, ${s.tokenizer.split('/').pop()}`,
    };
  }
  // no shared data: random tokens, every position a label (the loss then covers all rows)
  const rng = new Rng(7);
  const B = spec.rows, T = spec.maxLength;
  const ids = Int32Array.from({ length: B * T }, () => Math.floor(rng.next() * s.vocabSize));
  return { batch: { B, T, ids, labels: ids.slice(), lengths: new Int32Array(B).fill(T) }, source: 'random tokens (shared data not found)' };
}

/** Tokens in the batch (sum of lengths) and the positions whose label counts in the loss. */
export function batchStats(b: Batch): { tokens: number; lossTokens: number } {
  let tokens = 0, lossTokens = 0;
  for (const l of b.lengths) tokens += l;
  for (let i = 0; i < b.B; i++) for (let t = 1; t < b.T; t++) if (b.labels[i * b.T + t] !== -100) lossTokens++;
  return { tokens, lossTokens };
}
