// The evaluation's core, shared by evaluate() (engine/jobs/evaluate.ts: files, the model judge,
// drift, --out) and the web page (texts in memory): prompt sets encoded for a model
// (encodeEvalSet: every prompt checked against the model's positions and vocabulary), then scored
// (scoreEvalSets: greedy answers by answerPrompts; the harmful score by a judge, the keyword
// judge unless another is given; over-refusal; the task's fine-tune accuracy). prepareEvalSets
// reads and checks sets given as text with evaluate's defaults (--limit, --batch-size, the
// reference's max new tokens), so the same model and rows give evaluate()'s summary and answers.
// The model is scored as it is: merge the adapters into it first, as --adapter does.
import { checkGold, finetuneAccuracy, isCorrect } from '../eval/accuracy.ts';
import { evalPrompt } from '../eval/answer.ts';
import { findRefusal, harmfulScores, isIncoherent, KeywordJudge, overRefusal, type HarmfulSummary, type Judge, type JudgeVerdict } from '../eval/judge.ts';
import type { TextRow } from '../data.ts';
import type { CausalLM } from '../model/causal_lm.ts';
import { parsePromptRows } from '../tasks/harmful.ts';
import { parseTaskRows } from '../tasks/tasks.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { answerPrompts, encodePrompts, modelGenerate } from './answers.ts';
import { asInputError, InputError } from './errors.ts';
import { EVAL_OPTIONS, REFERENCE_MAX_NEW_TOKENS, type EvalTask } from './evaluate-options.ts';
import { normalizeOptions } from './options.ts';

/** The summary's keys are a contract: `n` and the metrics measured (percent, except drift). */
export interface EvaluateSummary {
  /** items scored (answers generated) */
  n: number;
  harmful_score?: number;
  harmful_score_plus?: number;
  over_refusal?: number;
  finetune_accuracy?: number;
  drift?: number;
}

export type EvalSet = 'harmful' | 'harmless' | 'task';

/** One scored answer. */
export interface EvaluateItem {
  set: EvalSet;
  /** the row's 1-based line (JSONL) or row number (JSON array) */
  line: number;
  prompt: string;
  input?: string;
  answer: string;
  verdict: HarmfulVerdict | HarmlessVerdict | TaskVerdict;
}
export interface HarmfulVerdict { flagged: boolean; incoherent: boolean; refusal?: string | null; score?: number }
export interface HarmlessVerdict { refused: boolean; refusal: string | null }
export interface TaskVerdict { correct: boolean; gold: string }

/** A prompt row to answer: its line, instruction and input. */
export interface EvalRow { line: number; instruction: string; input: string }

/** One set's prompts, encoded for the model. */
export interface EvalJob { set: EvalSet; file: string; rows: EvalRow[]; golds: string[]; maxNew: number; ids: number[][] }

/** The evaluation sets read, checked and encoded for a model, ready to score any number of times. */
export interface PreparedEvalSets {
  jobs: EvalJob[];
  /** the task the 'task' set is scored as */
  task: EvalTask | null;
  batchSize: number;
}

/** What scoring one set measured (evaluate's details). */
export interface ScoredSet {
  job: EvalJob;
  cutByContext: number;
  harmful?: HarmfulSummary;
  refusals?: number;
  correct?: number;
}

export interface ScoreCallbacks {
  /** the judge of the harmful set (default: the keyword judge), given the answers in batches of the sets' batch size */
  judge?: Judge;
  onProgress?(p: { set: EvalSet; done: number; total: number }): void;
  /** a set's answers are generated (before they are judged) */
  onAnswered?(job: EvalJob, cutByContext: number): void;
  onJudgeProgress?(done: number, total: number): void;
  /** a set is scored */
  onScored?(scored: ScoredSet): void;
  /** aborted: scoring stops between batches with EvaluationInterrupted */
  signal?: AbortSignal;
}

/** The task's evaluation rows cut to `limit`, each with a gold label its scorer reads (else a DataError naming the row). */
export function taskEvalRows(task: EvalTask, rows: TextRow[], file: string, limit: number): TextRow[] {
  const out = rows.slice(0, limit);
  for (const r of out) checkGold(task, r, file);
  return out;
}

/**
 * One set's prompts encoded with `tokenizer` for `model`; a prompt beyond the model's positions
 * or a token outside its vocabulary is an InputError naming the file and line (`hint` ends the
 * second message).
 */
export function encodeEvalSet(model: CausalLM, tokenizer: Tokenizer, set: EvalSet, file: string, rows: EvalRow[], golds: string[], maxNew: number, hint = ''): EvalJob {
  const c = model.config;
  const enc = encodePrompts(tokenizer, rows.map((r) => evalPrompt(r)), model.maxPositions, c.vocabSize);
  if ('tooLong' in enc) throw new InputError(`${file}:${rows[enc.tooLong].line}: the prompt has ${enc.length} tokens, beyond the model's ${model.maxPositions} positions`);
  if ('badToken' in enc) throw new InputError(`${file}:${rows[enc.badToken].line}: token id ${enc.id} from the tokenizer is outside the model's vocabulary (${c.vocabSize})${hint}`);
  return { set, file, rows, golds, maxNew, ids: enc.ids };
}

/** A file's text and its name (for messages and the items' lines). */
export interface NamedText { name: string; text: string }

export interface InMemoryEvaluateOptions { limit?: number; batchSize?: number; maxNewTokens?: number | null }

/** Harmful prompts and/or a task's evaluation rows, as text. */
export interface InMemoryEvalSets { harmful?: NamedText | null; task?: { name: EvalTask; eval: NamedText } | null }

/**
 * Reads and checks sets given as text (rows, gold labels, prompts against the model's context
 * and vocabulary) with evaluate's defaults; anything wrong is an InputError naming the file and line.
 */
export function prepareEvalSets(model: CausalLM, tokenizer: Tokenizer, sets: InMemoryEvalSets, input: InMemoryEvaluateOptions = {}): PreparedEvalSets {
  const o = normalizeOptions(EVAL_OPTIONS, input);
  if (!sets.harmful && !sets.task) throw new InputError('nothing to measure: give harmful prompts or a task\'s evaluation rows');
  const jobs: EvalJob[] = [];
  try {
    if (sets.harmful) {
      const rows = parsePromptRows(sets.harmful.text, sets.harmful.name).slice(0, o.limit);
      jobs.push(encodeEvalSet(model, tokenizer, 'harmful', sets.harmful.name, rows, [], o.maxNewTokens ?? REFERENCE_MAX_NEW_TOKENS.prompts));
    }
    if (sets.task) {
      const { name, eval: file } = sets.task;
      const rows = taskEvalRows(name, parseTaskRows(name, file.text, file.name), file.name, o.limit);
      jobs.push(encodeEvalSet(model, tokenizer, 'task', file.name, rows, rows.map((r) => r.output), o.maxNewTokens ?? REFERENCE_MAX_NEW_TOKENS.task));
    }
  } catch (e) {
    throw asInputError(e);
  }
  return { jobs, task: sets.task?.name ?? null, batchSize: o.batchSize };
}

/**
 * Scores `model` as it is on prepared sets, in order: greedy answers, then the judge's HS and HS+
 * (harmful), the refusals (harmless), the task's FA; onScored hears what each set measured.
 */
export async function scoreEvalSets(model: CausalLM, tokenizer: Tokenizer, prepared: PreparedEvalSets, cb: ScoreCallbacks = {}): Promise<{ summary: EvaluateSummary; items: EvaluateItem[] }> {
  const eosId = tokenizer.eosId >= 0 ? tokenizer.eosId : model.config.eosId;
  const summary: EvaluateSummary = { n: 0 };
  const items: EvaluateItem[] = [];
  const generate = modelGenerate(model);
  for (const job of prepared.jobs) {
    const res = await answerPrompts(generate, tokenizer, job.ids, { maxNewTokens: job.maxNew, batchSize: prepared.batchSize, eosId, maxPositions: model.maxPositions },
      (p) => cb.onProgress?.({ set: job.set, ...p }), cb.signal);
    cb.onAnswered?.(job, res.cutByContext);
    const scored: ScoredSet = { job, cutByContext: res.cutByContext };
    const row = (i: number) => ({ set: job.set, line: job.rows[i].line, prompt: job.rows[i].instruction, ...(job.rows[i].input ? { input: job.rows[i].input } : {}), answer: res.answers[i] });
    if (job.set === 'harmful') {
      const verdicts = await judgeAll(cb.judge ?? new KeywordJudge(), job.rows.map((r, i) => ({ prompt: r.instruction, answer: res.answers[i] })), prepared.batchSize,
        (done) => cb.onJudgeProgress?.(done, job.ids.length));
      const hs = harmfulScores(verdicts, res.answers);
      summary.harmful_score = hs.harmful_score;
      summary.harmful_score_plus = hs.harmful_score_plus;
      scored.harmful = hs;
      verdicts.forEach((v, i) => items.push({ ...row(i), verdict: harmfulVerdict(v, res.answers[i]) }));
    } else if (job.set === 'harmless') {
      const r = overRefusal(res.answers);
      summary.over_refusal = r.over_refusal;
      scored.refusals = r.refusals;
      res.answers.forEach((a, i) => { const refusal = findRefusal(a); items.push({ ...row(i), verdict: { refused: refusal !== null, refusal } }); });
    } else {
      const task = prepared.task!;
      const fa = finetuneAccuracy(task, res.answers, job.golds);
      summary.finetune_accuracy = fa.finetune_accuracy;
      scored.correct = fa.correct;
      res.answers.forEach((a, i) => items.push({ ...row(i), verdict: { correct: isCorrect(task, a, job.golds[i]), gold: job.golds[i] } }));
    }
    cb.onScored?.(scored);
  }
  summary.n = items.length;
  return { summary: orderSummary(summary), items };
}

/** The summary with its keys in one order: n, then the metrics. */
export function orderSummary(s: EvaluateSummary): EvaluateSummary {
  const out: EvaluateSummary = { n: s.n };
  for (const k of ['harmful_score', 'harmful_score_plus', 'over_refusal', 'finetune_accuracy', 'drift'] as const) if (s[k] !== undefined) out[k] = s[k];
  return out;
}

export function harmfulVerdict(v: JudgeVerdict, answer: string): HarmfulVerdict {
  return { flagged: v.flagged, incoherent: isIncoherent(answer), ...(v.refusal !== undefined ? { refusal: v.refusal } : {}), ...(v.score !== undefined ? { score: v.score } : {}) };
}

async function judgeAll(judge: Judge, items: { prompt: string; answer: string }[], batch: number, progress: (done: number) => void): Promise<JudgeVerdict[]> {
  const out: JudgeVerdict[] = [];
  for (let s = 0; s < items.length; s += batch) {
    out.push(...await judge.judge(items.slice(s, s + batch)));
    progress(out.length);
  }
  return out;
}
