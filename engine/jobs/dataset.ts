// A training job's data: rows read and encoded with the session's tokenizer, and the seeded order
// in which micro-batches draw them.
import { BatchOrder, DataError, encodeExample, parseRows, readRows, type Example, type TextRow } from '../data.ts';
import type { ModelConfig } from '../model/family.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { InputError } from './errors.ts';

export interface PreparedData { rows: TextRow[]; examples: Example[]; order: BatchOrder; padId: number }

/** Reads and encodes the data; a bad row, an empty file or a too large batch is an InputError. */
export function prepareData(data: string | readonly Record<string, unknown>[], tokenizer: Tokenizer, config: ModelConfig,
  o: { maxLength: number; batchSize: number; seed: number; shuffle: boolean }): PreparedData {
  try {
    const rows = typeof data === 'string' ? readRows(data) : parseRows(JSON.stringify(data), '<rows>');
    const eos = tokenizer.eosId >= 0 ? tokenizer.eosId : config.eosId;
    const encode = (t: string) => tokenizer.encode(t, { bos: true });
    const maxLength = Math.min(o.maxLength, config.maxSeqLen);
    const examples = rows.map((r) => encodeExample(r, encode, eos, maxLength));
    for (const ex of examples) {
      for (const id of ex.ids) {
        if (id >= config.vocabSize) throw new DataError(`token id ${id} from the tokenizer is outside the model's vocabulary (${config.vocabSize}): wrong --tokenizer?`);
      }
    }
    const order = new BatchOrder(examples.length, o.batchSize, o.seed, o.shuffle);
    return { rows, examples, order, padId: eos };
  } catch (e) {
    if (e instanceof DataError) throw new InputError(e.message);
    throw e;
  }
}
