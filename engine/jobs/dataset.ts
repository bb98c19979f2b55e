// A training job's data: rows read and encoded with the session's tokenizer, truncated to
// --max-length, and the seeded order in which micro-batches draw them. Truncation is the
// reference's semantics (Stanford Alpaca's train.py), but it is reported: how many rows were cut,
// and how many have no response token left (those would train on nothing and are skipped).
import { BatchOrder, DataError, encodeExample, IGNORE_INDEX, parseRows, readRows, type Example, type TextRow } from '../data.ts';
import type { ModelConfig } from '../model/family.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { InputError } from './errors.ts';
import { DEFAULT_MAX_LENGTH } from './train-options.ts';

export interface DataStats {
  /** rows in the file */
  rows: number;
  /** rows longer than maxLength (cut: they lose their EOS and the end of their response) */
  truncated: number;
  /** rows with no response token within maxLength (skipped) */
  empty: number;
  /** the longest row in tokens, before truncation */
  longest: number;
}

/** The rows kept for training (`rows[i]` is `examples[i]`), their order, and what truncation did. */
export interface PreparedData { rows: TextRow[]; examples: Example[]; order: BatchOrder; padId: number; maxLength: number; stats: DataStats }

/** --max-length as used: the value given (an InputError beyond the model's context), else 200 or the context when shorter. */
export function resolveMaxLength(maxLength: number | null, config: ModelConfig): number {
  if (maxLength !== null && maxLength > config.maxSeqLen) {
    throw new InputError(`--max-length ${maxLength} is beyond the model's context (${config.maxSeqLen} positions)`);
  }
  return maxLength ?? Math.min(DEFAULT_MAX_LENGTH, config.maxSeqLen);
}

/** Whether an example has a token that counts in the loss (labels are shifted by one: position 0 never does). */
function hasLossToken(e: Example): boolean {
  for (let t = 1; t < e.labels.length; t++) if (e.labels[t] !== IGNORE_INDEX) return true;
  return false;
}

/**
 * Reads and encodes the data; a bad row, an empty file, data with no response token within
 * --max-length or a too large batch is an InputError. `log` gets the truncation report.
 */
export function prepareData(data: string | readonly Record<string, unknown>[], tokenizer: Tokenizer, config: ModelConfig,
  o: { maxLength: number | null; batchSize: number; seed: number; shuffle: boolean }, log: (message: string) => void = () => {}): PreparedData {
  const maxLength = resolveMaxLength(o.maxLength, config);
  const file = typeof data === 'string' ? data : '<rows>';
  try {
    const all = typeof data === 'string' ? readRows(data) : parseRows(JSON.stringify(data), '<rows>');
    const eos = tokenizer.eosId >= 0 ? tokenizer.eosId : config.eosId;
    const encode = (t: string) => tokenizer.encode(t, { bos: true });
    const encoded = all.map((r) => encodeExample(r, encode, eos, maxLength));
    for (const [i, ex] of encoded.entries()) {
      for (const id of ex.ids) {
        if (id >= config.vocabSize || id < 0) {
          throw new DataError(`${file}:${all[i].line}: token id ${id} from the tokenizer is outside the model's vocabulary (${config.vocabSize}): wrong --tokenizer?`);
        }
      }
    }
    const stats: DataStats = { rows: all.length, truncated: 0, empty: 0, longest: 0 };
    const rows: TextRow[] = [], examples: Example[] = [];
    encoded.forEach((ex, i) => {
      const full = ex.fullLength ?? ex.ids.length;
      stats.longest = Math.max(stats.longest, full);
      if (full > maxLength) stats.truncated++;
      if (!hasLossToken(ex)) { stats.empty++; return; }
      rows.push(all[i]);
      examples.push(ex);
    });
    if (stats.truncated > 0) {
      log(`data: ${stats.truncated} of ${stats.rows} rows are longer than --max-length ${maxLength} tokens (the longest: ${stats.longest})`
        + ' and are cut: they lose their end of response and EOS');
    }
    if (stats.empty > 0 && examples.length > 0) {
      log(`data: ${stats.empty} of ${stats.rows} rows have no response token within --max-length ${maxLength} (the prompt fills it): skipped;`
        + ` training on the other ${examples.length}`);
    }
    if (examples.length === 0) {
      throw new DataError(`${file}: no row has a response token within --max-length ${maxLength} (the prompts alone fill it; the longest row has ${stats.longest} tokens): raise --max-length`);
    }
    const order = new BatchOrder(examples.length, o.batchSize, o.seed, o.shuffle);
    return { rows, examples, order, padId: eos, maxLength, stats };
  } catch (e) {
    if (e instanceof DataError) throw new InputError(e.message);
    throw e;
  }
}
