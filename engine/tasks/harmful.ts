// Harmful data: the harmful rows mixed into a user's fine-tune, and the prompt files the harmful
// score (and the over-refusal rate) is measured on.
//
// Reference (git-disl/Vaccine): train.py's "BeaverTails_dangerous" branch takes BeaverTails rows
// whose is_safe is false, in dataset order, as {instruction: prompt, input: "", output: response};
// poison/evaluation/pred.py reads the instruction of each row (or BeaverTails' prompt) and formats
// it with the no-input Alpaca template.
import { DataError, parseRecords, recordAt, rowFromRecord, type TextRow } from '../data.ts';
import { readDataFile } from './tasks.ts';

/** A harmful training row; `isSafe` is BeaverTails' is_safe (null where the row has none, e.g. Alpaca rows). */
export interface HarmfulRow extends TextRow { isSafe: boolean | null }

/**
 * Harmful rows: BeaverTails `{prompt, response, is_safe?}` or Alpaca rows, in file order.
 * Rows marked `is_safe: true` are kept here (with isSafe true); the mix skips them as the reference does.
 */
export function parseHarmfulRows(text: string, file: string): HarmfulRow[] {
  return parseRecords(text, file).map((rec) => {
    const row = rowFromRecord(rec, file);
    const s = rec.obj.is_safe;
    if (s !== undefined && s !== null && typeof s !== 'boolean') {
      throw new DataError(`${recordAt(file, rec)}: field "is_safe" must be true or false, got ${JSON.stringify(s)}`);
    }
    return { ...row, isSafe: typeof s === 'boolean' ? s : null };
  });
}

export function readHarmfulRows(path: string): HarmfulRow[] {
  return parseHarmfulRows(readDataFile(path).toString('utf8'), path);
}

/** An evaluation prompt: what the model is asked (formatted with `evalPrompt`), and its line. */
export interface PromptRow { instruction: string; input: string; line: number }

/**
 * Prompt rows for scoring: `{prompt, ...}` (harmful_prompts_*.jsonl, harmless_prompts_val.jsonl,
 * BeaverTails) or Alpaca rows `{instruction, input?}`. A row with neither field is a DataError
 * naming the file and line. (pred.py drops an Alpaca row's input; we keep it, which changes
 * nothing for the prompt files the experiment uses: they have none.)
 */
export function parsePromptRows(text: string, file: string): PromptRow[] {
  return parseRecords(text, file).map((rec) => {
    const o = rec.obj;
    const at = recordAt(file, rec);
    const key = 'prompt' in o || !('instruction' in o) ? 'prompt' : 'instruction';
    const v = o[key];
    if (typeof v !== 'string') {
      throw new DataError(`${at}: missing field "${key}"${v === undefined ? ' (prompt files have rows {prompt} or Alpaca rows {instruction, input})' : ` (got ${typeof v}, expected a string)`}`);
    }
    let input = '';
    if (key === 'instruction' && o.input !== undefined && o.input !== null) {
      if (typeof o.input !== 'string') throw new DataError(`${at}: field "input" must be a string`);
      input = o.input;
    }
    return { instruction: v, input, line: rec.line };
  });
}

export function readPromptRows(path: string): PromptRow[] {
  return parsePromptRows(readDataFile(path).toString('utf8'), path);
}
