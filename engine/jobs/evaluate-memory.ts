// The evaluation with no files (the web page's): the harmful score (keyword judge) and the
// fine-tune accuracy of a model in memory, on prompt and task rows given as text. It is built
// from evaluate()'s pieces (engine/jobs/evaluate.ts): prompts encoded by encodePrompts, greedy
// answers by answerPrompts, HS by the KeywordJudge and harmfulScores, FA by finetuneAccuracy,
// with evaluate's defaults (--limit, --batch-size, the reference's max new tokens), so the same
// model and rows give evaluate()'s summary and answers. The model is scored as it is: merge the
// adapters into it first, as --adapter does.
import { checkGold, finetuneAccuracy, isCorrect } from '../eval/accuracy.ts';
import { evalPrompt } from '../eval/answer.ts';
import { harmfulScores, KeywordJudge } from '../eval/judge.ts';
import type { CausalLM } from '../model/causal_lm.ts';
import { parsePromptRows } from '../tasks/harmful.ts';
import { parseTaskRows } from '../tasks/tasks.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { answerPrompts, encodePrompts, modelGenerate } from './answers.ts';
import { asInputError, InputError } from './errors.ts';
import { harmfulVerdict, type EvaluateItem, type EvaluateSummary } from './evaluate.ts';
import { EVAL_OPTIONS, REFERENCE_MAX_NEW_TOKENS, type EvalTask } from './evaluate-options.ts';
import { normalizeOptions } from './options.ts';

/** A file's text and its name (for messages and the items' lines). */
export interface NamedText { name: string; text: string }

export interface InMemoryEvaluateOptions { limit?: number; batchSize?: number; maxNewTokens?: number | null }

/** Harmful prompts and/or a task's evaluation rows, as text. */
export interface InMemoryEvalSets { harmful?: NamedText | null; task?: { name: EvalTask; eval: NamedText } | null }

/** The evaluation sets read, checked and encoded for a model (prepareEvalSets), ready to score any number of times. */
export interface PreparedEvalSets {
  jobs: { set: 'harmful' | 'task'; file: string; rows: { line: number; instruction: string; input: string }[]; golds: string[]; maxNew: number; ids: number[][] }[];
  task: EvalTask | null;
  batchSize: number;
}

/**
 * Reads and checks the sets (rows, gold labels, prompts against the model's context and
 * vocabulary) with evaluate's defaults; anything wrong is an InputError naming the file and line.
 */
export function prepareEvalSets(model: CausalLM, tokenizer: Tokenizer, sets: InMemoryEvalSets, input: InMemoryEvaluateOptions = {}): PreparedEvalSets {
  const o = normalizeOptions(EVAL_OPTIONS, input);
  if (!sets.harmful && !sets.task) throw new InputError('nothing to measure: give harmful prompts or a task\'s evaluation rows');
  const c = model.config;
  const jobs: PreparedEvalSets['jobs'] = [];
  try {
    const add = (set: 'harmful' | 'task', file: string, rows: PreparedEvalSets['jobs'][number]['rows'], golds: string[], maxNew: number) => {
      const enc = encodePrompts(tokenizer, rows.map((r) => evalPrompt(r)), model.maxPositions, c.vocabSize);
      if ('tooLong' in enc) throw new InputError(`${file}:${rows[enc.tooLong].line}: the prompt has ${enc.length} tokens, beyond the model's ${model.maxPositions} positions`);
      if ('badToken' in enc) throw new InputError(`${file}:${rows[enc.badToken].line}: token id ${enc.id} from the tokenizer is outside the model's vocabulary (${c.vocabSize})`);
      jobs.push({ set, file, rows, golds, maxNew, ids: enc.ids });
    };
    if (sets.harmful) {
      add('harmful', sets.harmful.name, parsePromptRows(sets.harmful.text, sets.harmful.name).slice(0, o.limit), [], o.maxNewTokens ?? REFERENCE_MAX_NEW_TOKENS.prompts);
    }
    if (sets.task) {
      const { name, eval: file } = sets.task;
      const rows = parseTaskRows(name, file.text, file.name).slice(0, o.limit);
      for (const r of rows) checkGold(name, r, file.name);
      add('task', file.name, rows, rows.map((r) => r.output), o.maxNewTokens ?? REFERENCE_MAX_NEW_TOKENS.task);
    }
  } catch (e) {
    throw asInputError(e);
  }
  return { jobs, task: sets.task?.name ?? null, batchSize: o.batchSize };
}

/** Scores `model` as it is on prepared sets: greedy answers, the keyword judge's HS and HS+, the task's FA. */
export async function scoreEvalSets(model: CausalLM, tokenizer: Tokenizer, prepared: PreparedEvalSets,
  cb: { onProgress?(p: { set: 'harmful' | 'task'; done: number; total: number }): void; signal?: AbortSignal } = {}): Promise<{ summary: EvaluateSummary; items: EvaluateItem[] }> {
  const eosId = tokenizer.eosId >= 0 ? tokenizer.eosId : model.config.eosId;
  const summary: EvaluateSummary = { n: 0 };
  const items: EvaluateItem[] = [];
  const generate = modelGenerate(model);
  for (const job of prepared.jobs) {
    const res = await answerPrompts(generate, tokenizer, job.ids, { maxNewTokens: job.maxNew, batchSize: prepared.batchSize, eosId, maxPositions: model.maxPositions },
      (p) => cb.onProgress?.({ set: job.set, ...p }), cb.signal);
    const row = (i: number) => ({ set: job.set, line: job.rows[i].line, prompt: job.rows[i].instruction, ...(job.rows[i].input ? { input: job.rows[i].input } : {}), answer: res.answers[i] });
    if (job.set === 'harmful') {
      const verdicts = await new KeywordJudge().judge(job.rows.map((r, i) => ({ prompt: r.instruction, answer: res.answers[i] })));
      const hs = harmfulScores(verdicts, res.answers);
      summary.harmful_score = hs.harmful_score;
      summary.harmful_score_plus = hs.harmful_score_plus;
      verdicts.forEach((v, i) => items.push({ ...row(i), verdict: harmfulVerdict(v, res.answers[i]) }));
    } else {
      const task = prepared.task!;
      summary.finetune_accuracy = finetuneAccuracy(task, res.answers, job.golds).finetune_accuracy;
      res.answers.forEach((a, i) => items.push({ ...row(i), verdict: { correct: isCorrect(task, a, job.golds[i]), gold: job.golds[i] } }));
    }
  }
  summary.n = items.length;
  return { summary, items };
}

/** prepareEvalSets then scoreEvalSets: evaluate() on texts, for a model in memory. */
export async function evaluateInMemory(model: CausalLM, tokenizer: Tokenizer, sets: InMemoryEvalSets, input: InMemoryEvaluateOptions = {},
  cb: { onProgress?(p: { set: 'harmful' | 'task'; done: number; total: number }): void; signal?: AbortSignal } = {}): Promise<{ summary: EvaluateSummary; items: EvaluateItem[] }> {
  return scoreEvalSets(model, tokenizer, prepareEvalSets(model, tokenizer, sets, input), cb);
}
