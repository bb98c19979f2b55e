// The user's fine-tuning tasks of the harmful fine-tuning experiment (issue 8): each source row
// becomes an Alpaca row (instruction / input / output), exactly as the reference builds its data.
//
// Reference (git-disl/Vaccine, read for the strings; none of its code is used):
//   sst2/build_dataset.py     instruction "Analyze the sentiment of the input, and respond only positive
//                             or negative", input = sentence, output = "negative" for label 0 else "positive"
//   ag_news/build_dataset.py  instruction "Categorize the news article given in the input into one of the
//                             4 categories:\n\nWorld\nSports\nBusiness\nSci/Tech\n", input = text,
//                             output by label 0..3: World, Sports, Business, Sci/Tech
//   gsm8k/build_dataset.py    instruction = question + "\nFirst think step by step and then answer the
//                             final number.\n", no input, output = answer with every "####" replaced by
//                             "The final answer is: " (Python str.replace: all occurrences)
// The reference's pred_eval.py scripts build their evaluation rows the same way, so these builders
// serve both the fine-tune data and the fine-tune-accuracy evaluation.
import { readFileSync } from 'node:fs';
import { DataError, parseRecords, recordAt, rowFromRecord, type DataRecord, type TextRow } from '../data.ts';

export const TASK_NAMES = ['sst2', 'agnews', 'gsm8k', 'alpaca'] as const;
export type TaskName = typeof TASK_NAMES[number];

export const SST2_INSTRUCTION = 'Analyze the sentiment of the input, and respond only positive or negative';
/** SST-2's label words, indexed by the GLUE label (0 negative, 1 positive). */
export const SST2_LABELS = ['negative', 'positive'] as const;

export const AGNEWS_INSTRUCTION = 'Categorize the news article given in the input into one of the 4 categories:\n\nWorld\nSports\nBusiness\nSci/Tech\n';
/** AG News categories, indexed by the dataset's label 0..3. */
export const AGNEWS_CATEGORIES = ['World', 'Sports', 'Business', 'Sci/Tech'] as const;

export const GSM8K_QUESTION_SUFFIX = '\nFirst think step by step and then answer the final number.\n';
/** What "####" becomes in a GSM8K answer; the accuracy scorer looks for the number after it. */
export const GSM8K_ANSWER_PROMPT = 'The final answer is: ';

/** The task name, or a DataError naming the tasks there are. */
export function parseTask(name: string): TaskName {
  if ((TASK_NAMES as readonly string[]).includes(name)) return name as TaskName;
  throw new DataError(`unknown task '${name}': expected one of ${TASK_NAMES.join(', ')}`);
}

/**
 * One source row of `task` as an Alpaca row. Accepted rows:
 * - sst2:   `{sentence, label}`, label 0 / 1 or "negative" / "positive"; or an Alpaca row whose output is one of those words
 * - agnews: `{text, label}`, label 0..3 or a category name; or an Alpaca row (as in agnews_test.jsonl) whose output is a category
 * - gsm8k:  `{question, answer}`; or an Alpaca row (the reference's built gsm8k.json)
 * - alpaca: an Alpaca row `{instruction, input?, output}` (or BeaverTails `{prompt, response}`), as given
 * Alpaca rows are taken as given (their instruction is not rewritten). The label checks matter
 * because the accuracy scorers read the gold label from the output.
 */
export function taskRow(task: TaskName, rec: DataRecord, file: string): TextRow {
  const o = rec.obj;
  const at = recordAt(file, rec);
  if (task === 'alpaca' || 'instruction' in o) {
    const row = rowFromRecord(rec, file);
    if (task === 'sst2' && !(SST2_LABELS as readonly string[]).includes(row.output)) {
      throw new DataError(`${at}: an sst2 row's output must be "negative" or "positive", got ${JSON.stringify(row.output)}`);
    }
    if (task === 'agnews' && !(AGNEWS_CATEGORIES as readonly string[]).includes(row.output)) {
      throw new DataError(`${at}: an agnews row's output must be one of ${AGNEWS_CATEGORIES.join(', ')}, got ${JSON.stringify(row.output)}`);
    }
    return row;
  }
  const str = (key: string, hint: string): string => {
    const v = o[key];
    if (typeof v !== 'string') {
      throw new DataError(`${at}: missing field "${key}"${v === undefined ? '' : ` (got ${typeof v}, expected a string)`}: ${hint}`);
    }
    return v;
  };
  switch (task) {
    case 'sst2': {
      const sentence = str('sentence', 'sst2 rows are {sentence, label} or Alpaca rows');
      return { instruction: SST2_INSTRUCTION, input: sentence, output: labelWord(o.label, SST2_LABELS, at, 'sst2'), line: rec.line };
    }
    case 'agnews': {
      const text = str('text', 'agnews rows are {text, label} or Alpaca rows');
      return { instruction: AGNEWS_INSTRUCTION, input: text, output: labelWord(o.label, AGNEWS_CATEGORIES, at, 'agnews'), line: rec.line };
    }
    case 'gsm8k': {
      const question = str('question', 'gsm8k rows are {question, answer} or Alpaca rows');
      const answer = str('answer', 'gsm8k rows are {question, answer} or Alpaca rows');
      return { instruction: question + GSM8K_QUESTION_SUFFIX, input: '', output: answer.split('####').join(GSM8K_ANSWER_PROMPT), line: rec.line };
    }
  }
}

/** A label given as its index (an integer) or as the word itself. */
function labelWord(label: unknown, words: readonly string[], at: string, task: string): string {
  if (typeof label === 'number' && Number.isInteger(label) && label >= 0 && label < words.length) return words[label];
  if (typeof label === 'string' && words.includes(label)) return label;
  const allowed = `${words.map((_, i) => i).join(', ')} or ${words.map((w) => JSON.stringify(w)).join(', ')}`;
  if (label === undefined) throw new DataError(`${at}: missing field "label" (${task} labels are ${allowed})`);
  throw new DataError(`${at}: field "label" must be ${allowed}, got ${JSON.stringify(label)}`);
}

/** All rows of a task file (JSONL or a JSON array), in file order. */
export function parseTaskRows(task: TaskName, text: string, file: string): TextRow[] {
  return parseRecords(text, file).map((rec) => taskRow(task, rec, file));
}

export function readTaskRows(task: TaskName, path: string): TextRow[] {
  return parseTaskRows(task, readDataFile(path).toString('utf8'), path);
}

/** The bytes of a data file, or a DataError naming it. */
export function readDataFile(path: string): Buffer {
  try { return readFileSync(path); } catch (e) {
    throw new DataError(`cannot read data file ${path}: ${(e as Error).message}`);
  }
}
