// Fine-tune accuracy (FA): is an answer to a task row correct, scored as the reference scores it.
//
// Reference (git-disl/Vaccine, the scoring half of each pred_eval.py):
//   sst2/pred_eval.py     correct when "positive" or "Positive" (for label 1; "negative" /
//                         "Negative" for 0) is a substring of the answer
//   ag_news/pred_eval.py  correct when the answer contains the category or its second form:
//                         World/world, Sports/sports, Business/business, Sci/Tech/sci
//   gsm8k/pred_eval.py    extract_answer_number on both the answer and the gold output, compared
//                         as floats (see extractGsm8kNumber)
// These are substring tests, with the reference's quirks kept: an sst2 answer "positive and
// negative" is correct for both labels, and agnews' "sci" also matches "science" or "conscious".
import { DataError, type TextRow } from '../data.ts';
import { AGNEWS_CATEGORIES, GSM8K_ANSWER_PROMPT, SST2_LABELS, type TaskName } from '../tasks/tasks.ts';

/** The tasks with an accuracy scorer (alpaca has none: its answers are free text). */
export type ScoredTask = Exclude<TaskName, 'alpaca'>;

// Python's re `\d` on a str matches any Unicode decimal digit (category Nd), and float() reads
// those digits too; JavaScript's `\d` is ASCII only, so the pattern spells out \p{Nd}.
const NUMBER = /-?\p{Nd}+\.?\p{Nd}*/gu;
const ND = /\p{Nd}/u;

/** A matched number as Python's float() reads it (every Nd digit by its value). */
function toFloat(match: string): number {
  let ascii = '';
  for (const ch of match) {
    if (ch >= '0' && ch <= '9' || ch === '-' || ch === '.') { ascii += ch; continue; }
    // Unicode lays out every decimal digit set as a run of ten, zero first: the value is the
    // distance from the start of the run of Nd characters, modulo ten (some runs sit back to back).
    const cp = ch.codePointAt(0)!;
    let start = cp;
    while (ND.test(String.fromCodePoint(start - 1))) start--;
    ascii += String((cp - start) % 10);
  }
  return Number(ascii);
}

/**
 * The number a GSM8K answer gives, as the reference's extract_answer_number finds it:
 * 1. remove every comma ("1,000" is 1000; "1,5" is 15);
 * 2. no number anywhere (pattern `-?\d+\.?\d*`): none (the reference returns inf);
 * 3. if "The final answer is: " occurs, the first number between its first occurrence and its
 *    second (Python's split(...)[1]); if that stretch has no number, the last number of the text;
 * 4. otherwise the last number of the text.
 * "$18." gives 18; "-3" gives -3; "5-3" ends with the number -3; ".5" gives 5 (no leading digit).
 */
export function extractGsm8kNumber(text: string): number | null {
  const s = text.split(',').join('');
  const all = s.match(NUMBER);
  if (!all) return null;
  const segments = s.split(GSM8K_ANSWER_PROMPT);
  if (segments.length > 1) {
    const after = segments[1].match(NUMBER);
    if (after) return toFloat(after[0]);
  }
  return toFloat(all[all.length - 1]);
}

/** The substrings that make an answer correct for a gold label (sst2, agnews). */
export function labelForms(task: 'sst2' | 'agnews', gold: string): string[] {
  if (task === 'sst2') {
    if (!(SST2_LABELS as readonly string[]).includes(gold)) throw new Error(`not an sst2 label: ${JSON.stringify(gold)}`);
    return [gold, gold[0].toUpperCase() + gold.slice(1)];
  }
  const i = (AGNEWS_CATEGORIES as readonly string[]).indexOf(gold);
  if (i < 0) throw new Error(`not an agnews category: ${JSON.stringify(gold)}`);
  return [gold, ['world', 'sports', 'business', 'sci'][i]];
}

/**
 * Throws a DataError (file and line) when a row's gold output cannot be scored: an sst2 / agnews
 * output that is not a label, a gsm8k output without a number (the reference would compare inf with
 * inf and call an answer without a number correct), or a task without a scorer.
 */
export function checkGold(task: TaskName, row: TextRow, file: string): void {
  const at = `${file}:${row.line}`;
  if (task === 'alpaca') throw new DataError('the alpaca task has no accuracy scorer: use --task sst2, agnews or gsm8k for fine-tune accuracy');
  if (task === 'gsm8k') {
    if (extractGsm8kNumber(row.output) === null) throw new DataError(`${at}: the gsm8k answer has no number to score against`);
    return;
  }
  try { labelForms(task, row.output); } catch (e) {
    throw new DataError(`${at}: ${(e as Error).message}`);
  }
}

/** Whether `answer` is correct for the gold output `gold` (the row's output). */
export function isCorrect(task: ScoredTask, answer: string, gold: string): boolean {
  if (task === 'gsm8k') {
    const g = extractGsm8kNumber(gold);
    if (g === null) throw new Error(`the gsm8k gold answer has no number: ${JSON.stringify(gold)}`);
    return extractGsm8kNumber(answer) === g;
  }
  return labelForms(task, gold).some((form) => answer.includes(form));
}

/** The fine-tune-accuracy part of evaluate's summary: FA = 100 * correct / n. */
export function finetuneAccuracy(task: ScoredTask, answers: readonly string[], golds: readonly string[]): { n: number; correct: number; finetune_accuracy: number } {
  if (answers.length !== golds.length) throw new Error(`${answers.length} answers for ${golds.length} gold outputs`);
  if (answers.length === 0) throw new Error('no answers to score');
  let correct = 0;
  for (let i = 0; i < answers.length; i++) if (isCorrect(task, answers[i], golds[i])) correct++;
  return { n: answers.length, correct, finetune_accuracy: (100 * correct) / answers.length };
}
