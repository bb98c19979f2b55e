// Alignment data: reading Alpaca / BeaverTails rows, the Alpaca prompt templates, token ids with
// prompt-masked labels, and the seeded batch order. The templates and the masking follow the
// reference implementation (Stanford Alpaca's train.py, which Vaccine uses), so that losses are
// comparable with it.
import { readFileSync } from 'node:fs';
import type { Batch } from './model/causal_lm.ts';
import { IGNORE_INDEX } from './ops/cross_entropy.ts';
import { mixSeed, Rng } from './random.ts';

export { IGNORE_INDEX };

/**
 * One training example as text. `line` is its 1-based line in the file (JSONL) or its index + 1
 * (JSON array); `isSafe` is the row's boolean `is_safe` field when it has one (BeaverTails marks
 * harmful answers false).
 */
export interface TextRow { instruction: string; input: string; output: string; line: number; isSafe?: boolean | null }

/** `fullLength`: the token count before truncation to maxLength. */
export interface Example { ids: Int32Array; labels: Int32Array; fullLength?: number }

/** A bad data file: the CLI exits with code 2 on it. */
export class DataError extends Error {
  constructor(message: string) { super(message); this.name = 'DataError'; }
}

const PROMPT_WITH_INPUT = 'Below is an instruction that describes a task, paired with an input that provides further context. '
  + 'Write a response that appropriately completes the request.\n\n'
  + '### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:';
const PROMPT_NO_INPUT = 'Below is an instruction that describes a task. '
  + 'Write a response that appropriately completes the request.\n\n'
  + '### Instruction:\n{instruction}\n\n### Response:';

/** The Alpaca prompt for a row (the "input" template only when the input is non-empty). */
export function formatPrompt(row: { instruction: string; input?: string }): string {
  // Plain split/join, not String.replace: a "$&" in user text must stay literal.
  const fill = (tpl: string, key: string, value: string) => tpl.split(`{${key}}`).join(value);
  if (row.input && row.input.length > 0) {
    return fill(fill(PROMPT_WITH_INPUT, 'instruction', row.instruction), 'input', row.input);
  }
  return fill(PROMPT_NO_INPUT, 'instruction', row.instruction);
}

/** One JSON object of a data file, with where it came from (for error messages). */
export interface DataRecord { obj: Record<string, unknown>; line: number; where: string }

/** "file:line (line N)" or "file:N (row N)": the location every data error starts with. */
export function recordAt(file: string, rec: { line: number; where: string }): string {
  return `${file}:${rec.line} (${rec.where})`;
}

/**
 * Parses a JSON array or JSONL text into its objects, in file order; `file` is named in every
 * error. Row formats (Alpaca, BeaverTails, task rows) are read from these by their own readers.
 */
export function parseRecords(text: string, file: string): DataRecord[] {
  const trimmed = text.trim();
  if (trimmed.length === 0) throw new DataError(`${file}: the data file is empty`);
  const recs: DataRecord[] = [];
  const push = (obj: unknown, where: string, line: number) => {
    const rec = { obj: obj as Record<string, unknown>, line, where };
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new DataError(`${recordAt(file, rec)}: expected a JSON object`);
    recs.push(rec);
  };
  if (trimmed.startsWith('[')) {
    let arr: unknown;
    try { arr = JSON.parse(trimmed); } catch (e) {
      throw new DataError(`${file}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(arr)) throw new DataError(`${file}: expected a JSON array of rows`);
    // A JSON array has no reliable per-row line numbers; we report the row index (1-based) as "row N".
    arr.forEach((obj, i) => push(obj, `row ${i + 1}`, i + 1));
  } else {
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i].trim();
      if (l.length === 0) continue;
      let obj: unknown;
      try { obj = JSON.parse(l); } catch (e) {
        throw new DataError(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      push(obj, `line ${i + 1}`, i + 1);
    }
  }
  if (recs.length === 0) throw new DataError(`${file}: the data file has no rows`);
  return recs;
}

/** Parses a JSON array or JSONL text into rows; `file` is named in every error. */
export function parseRows(text: string, file: string): TextRow[] {
  return parseRecords(text, file).map((r) => rowFromRecord(r, file));
}

/** An Alpaca row `{instruction, input?, output}` or a BeaverTails row `{prompt, response}` as text. */
export function rowFromRecord(rec: DataRecord, file: string): TextRow {
  const at = recordAt(file, rec);
  const o = rec.obj;
  const line = rec.line;
  const str = (key: string): string => {
    const v = o[key];
    if (typeof v !== 'string') {
      throw new DataError(`${at}: missing field "${key}"${v === undefined ? '' : ` (got ${typeof v}, expected a string)`}`);
    }
    return v;
  };
  const safety = o.is_safe === undefined || o.is_safe === null ? {} : typeof o.is_safe === 'boolean' ? { isSafe: o.is_safe }
    : (() => { throw new DataError(`${at}: field "is_safe" must be true or false, got ${JSON.stringify(o.is_safe)}`); })();
  const isBeaver = !('instruction' in o) && ('prompt' in o || 'response' in o);
  if (isBeaver) return { instruction: str('prompt'), input: '', output: str('response'), line, ...safety };
  const input = o.input === undefined || o.input === null ? '' : o.input;
  if (typeof input !== 'string') throw new DataError(`${at}: field "input" must be a string`);
  return { instruction: str('instruction'), input, output: str('output'), line, ...safety };
}

export function readRows(path: string): TextRow[] {
  let bytes: Buffer;
  try { bytes = readFileSync(path); } catch (e) {
    throw new DataError(`cannot read data file ${path}: ${(e as Error).message}`);
  }
  // JSON is UTF-8 text: a NUL byte or invalid UTF-8 means binary data (or another encoding)
  const nul = bytes.indexOf(0);
  let text: string;
  try {
    if (nul >= 0) throw new Error(`a NUL byte at byte ${nul}`);
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new DataError(`${path}: not a UTF-8 text file (${(e as Error).message.includes('NUL') ? (e as Error).message : 'invalid UTF-8'}): expected JSON or JSONL rows`);
  }
  return parseRows(text, path);
}

/**
 * ids = encode(prompt + output) (encode adds BOS), then the EOS id; labels = ids with the first
 * len(encode(prompt)) positions masked; both truncated to maxLength.
 */
export function encodeExample(row: TextRow, encode: (text: string) => number[], eosId: number, maxLength: number): Example {
  const prompt = formatPrompt(row);
  const full = encode(prompt + row.output);
  full.push(eosId);
  const promptLen = encode(prompt).length;
  const n = Math.min(full.length, maxLength);
  const ids = Int32Array.from(full.slice(0, n));
  const labels = Int32Array.from(ids);
  labels.fill(IGNORE_INDEX, 0, Math.min(promptLen, n));
  return { ids, labels, fullLength: full.length };
}

/** Right-padded batch: padded positions get `padId` and label IGNORE_INDEX; lengths are the real lengths. */
export function collate(examples: Example[], padId: number): Batch {
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.ids.length));
  const ids = new Int32Array(B * T).fill(padId);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  const lengths = new Int32Array(B);
  examples.forEach((e, b) => {
    ids.set(e.ids, b * T);
    labels.set(e.labels, b * T);
    lengths[b] = e.ids.length;
  });
  return { B, T, ids, labels, lengths };
}

/** Number of label positions that count in the loss (after the model's shift by one). */
export function countLossTokens(batch: Batch): number {
  let n = 0;
  for (let b = 0; b < batch.B; b++) {
    for (let t = 1; t < batch.T; t++) if (batch.labels[b * batch.T + t] !== IGNORE_INDEX) n++;
  }
  return n;
}

/**
 * The order of examples in every epoch. Each epoch's permutation depends only on (seed, epoch),
 * so a resumed run needs nothing but the micro-batch counter to continue in the same order.
 */
export class BatchOrder {
  readonly batchesPerEpoch: number;
  private cache = new Map<number, Int32Array>();

  constructor(readonly nExamples: number, readonly batchSize: number, readonly seed: number, readonly shuffle: boolean) {
    if (nExamples === 0) throw new DataError('no training examples');
    if (batchSize > nExamples) throw new DataError(`batch size ${batchSize} is larger than the data (${nExamples} rows)`);
    // The last batch of an epoch may be short, as with a DataLoader without drop_last.
    this.batchesPerEpoch = Math.ceil(nExamples / batchSize);
  }

  permutation(epoch: number): Int32Array {
    let p = this.cache.get(epoch);
    if (p) return p;
    p = new Int32Array(this.nExamples);
    for (let i = 0; i < p.length; i++) p[i] = i;
    if (this.shuffle) new Rng(mixSeed(this.seed, epoch)).shuffle(p);
    this.cache.clear(); // one epoch at a time is enough
    this.cache.set(epoch, p);
    return p;
  }

  /** Example indices of global micro-batch `k` (0-based, counting across epochs). */
  microBatch(k: number): { epoch: number; indices: Int32Array } {
    const epoch = Math.floor(k / this.batchesPerEpoch);
    const j = k % this.batchesPerEpoch;
    const perm = this.permutation(epoch);
    return { epoch, indices: perm.slice(j * this.batchSize, Math.min(this.nExamples, (j + 1) * this.batchSize)) };
  }
}
