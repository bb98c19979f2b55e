// The evaluation job: what an attacked (or aligned) model does. `node runtime/evaluate.js` is a
// thin command line over `evaluate()`; a grid calls `evaluateOn(session, ...)` on its session.
//
//   harmful score   --harmful FILE: greedy answers to harmful prompts, judged (keyword or model);
//                   HS = 100 * flagged / n, HS+ also counts incoherent answers
//   over-refusal    --harmless FILE: percent of answers to harmless prompts that refuse
//   fine-tune acc.  --task T --eval FILE: greedy answers scored as the reference's pred_eval.py
//   drift           --drift-reference ADAPTERS --drift-data FILE: attention-block outputs of the
//                   evaluated model against those of the reference adapters (masked padding)
//
// The model is the session's base with --adapter directories merged in order. Everything that can
// be wrong with the input (files, rows, gold labels, adapters, the judge) is checked before the
// first answer is generated; the output file is written once, whole, at the end. The prompts are
// encoded and scored by the evaluation's core (evaluate-sets.ts, which the web page uses on
// texts); this file holds what is the command's own: the files, the model judge, drift, --out.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { collate, countLossTokens, encodeExample, readRows, type Example, type TextRow } from '../data.ts';
import { embeddingDrift } from '../eval/drift.ts';
import { KeywordJudge, parseJudgeSpec, type Judge } from '../eval/judge.ts';
import { ModelJudge } from '../eval/judge-model.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import type { CausalLM } from '../model/causal_lm.ts';
import { readPromptRows, type PromptRow } from '../tasks/harmful.ts';
import { readTaskRows } from '../tasks/tasks.ts';
export { EvaluationInterrupted } from './answers.ts';
import { asInput, asInputError, InputError } from './errors.ts';
import { EVAL_OPTIONS, REFERENCE_MAX_NEW_TOKENS, type EvalTask, type EvaluateValues } from './evaluate-options.ts';
import { encodeEvalSet, orderSummary, scoreEvalSets, taskEvalRows, type EvalJob, type EvalRow, type EvalSet, type EvaluateItem, type EvaluateSummary, type PreparedEvalSets } from './evaluate-sets.ts';
import { normalizeOptions, type OptionInputs } from './options.ts';
import type { Session } from './session.ts';
import { SESSION_KEYS, withJobSession } from './train-job.ts';

export { EVAL_OPTIONS, EVAL_GROUPS, EVAL_TASKS, REFERENCE_MAX_NEW_TOKENS, type EvalTask } from './evaluate-options.ts';
export type { EvalSet, EvaluateItem, EvaluateSummary, HarmfulVerdict, HarmlessVerdict, TaskVerdict } from './evaluate-sets.ts';

export type EvaluateOptions = OptionInputs<typeof EVAL_OPTIONS>;

export interface EvaluateReport {
  summary: EvaluateSummary;
  details: Record<string, unknown>;
  items: EvaluateItem[];
}

export interface EvaluateStartInfo {
  backend: string; model: string; adapters: string[]; judge: string | null;
  /** prompts to answer per set, in the order they are generated */
  sets: { set: EvalSet; file: string; n: number; maxNewTokens: number }[];
  drift: { samples: number; reference: string[] } | null;
  out: string;
}

export interface EvaluateProgress {
  phase: EvalSet | 'judge' | 'drift';
  done: number; total: number;
  /** every answer of the run so far, and all of them */
  answered: number; answers: number;
  elapsed_s: number;
  /** seconds left for the answers still to generate, from the rate so far (null before the first) */
  eta_s: number | null;
}

export interface EvaluateCallbacks {
  onStart?(info: EvaluateStartInfo): void;
  onProgress?(p: EvaluateProgress): void;
  onLog?(message: string): void;
  /** aborted (e.g. on Ctrl-C): the evaluation stops between batches with EvaluationInterrupted and writes nothing */
  signal?: AbortSignal;
}

export type EvaluateResult = EvaluateReport & { out: string };

type Values = Omit<EvaluateValues, 'adapter' | 'driftReference'> & { out: string; adapter: string[]; driftReference: string[] | null };

/**
 * Validates and completes options; throws InputError naming the bad option. With `onSession` the
 * options are for a session the caller holds, so they must not name its model, tokenizer,
 * backend, threads, webgpu library or weights.
 */
export function normalizeEvaluateOptions(input: Partial<EvaluateOptions>, onSession = false): Values {
  const given = input as Record<string, unknown>;
  if (onSession) {
    const named = SESSION_KEYS.filter((k) => given[k] !== undefined);
    if (named.length > 0) throw new InputError(`evaluateOn: ${named.join(', ')} ${named.length === 1 ? 'is' : 'are'} the session's; do not pass ${named.length === 1 ? 'it' : 'them'} with a session`);
  }
  if (!onSession && !input.model) throw new InputError('no model given (--model PATH)');
  if (!input.out) throw new InputError('no output file given (--out FILE)');
  // 'none' names the bare base model as the drift reference: it is not a directory to check
  const ref = input.driftReference;
  const bare = Array.isArray(ref) && ref.length === 1 && ref[0] === 'none';
  if (Array.isArray(ref) && ref.includes('none') && !bare) throw new InputError('--drift-reference none stands alone: it means the base model without adapters');
  const o = normalizeOptions(EVAL_OPTIONS, { ...input, driftReference: bare ? undefined : ref });
  const v = { ...o, adapter: o.adapter ?? [], driftReference: bare ? [] : (o.driftReference ?? null) } as Values;
  try { parseJudgeSpec(v.judge); } catch (e) { throw asInputError(e); }
  if ((v.task === null) !== (v.eval === null)) throw new InputError(v.task ? '--task needs --eval FILE (the task\'s evaluation rows)' : '--eval needs --task sst2|agnews|gsm8k');
  if ((v.driftReference === null) !== (v.driftData === null)) {
    throw new InputError(v.driftData ? '--drift-data needs --drift-reference DIR (or none)' : '--drift-reference needs --drift-data FILE (the alignment rows)');
  }
  if (!v.harmful && !v.harmless && !v.task && !v.driftData) {
    throw new InputError('nothing to measure: give --harmful FILE, --harmless FILE, --task T with --eval FILE, or --drift-reference with --drift-data');
  }
  if (existsSync(v.out) && statSync(v.out).isDirectory()) throw new InputError(`--out ${v.out} is a directory: give a file name`);
  if (typeof v.model === 'object' && typeof v.tokenizer !== 'object') throw new InputError('a model given in memory needs its tokenizer object (options.tokenizer)');
  return v;
}

/** Evaluates a model: opens a session for it, merges the adapters, measures, writes `out`, closes the session. */
export async function evaluate(input: Partial<EvaluateOptions>, cb: EvaluateCallbacks = {}): Promise<EvaluateResult> {
  const o = normalizeEvaluateOptions(input);
  const rows = readRowsOf(o); // the files are checked before the model is loaded
  return withJobSession(o, (m) => cb.onLog?.(m), (session) => run(session, o, rows, cb));
}

/**
 * Evaluates the model of a session the caller holds (and closes). The session's base is left as
 * the model with the --adapter directories merged.
 */
export async function evaluateOn(session: Session, input: Partial<EvaluateOptions>, cb: EvaluateCallbacks = {}): Promise<EvaluateResult> {
  const o = normalizeEvaluateOptions(input, true);
  return run(session, o, readRowsOf(o), cb);
}

/** Rows of every set, read and checked before anything runs. */
interface Rows {
  harmful: PromptRow[] | null;
  harmless: PromptRow[] | null;
  task: { name: EvalTask; rows: TextRow[] } | null;
  drift: TextRow[] | null;
}

function readRowsOf(o: Values): Rows {
  try {
    const harmful = o.harmful ? readPromptRows(o.harmful).slice(0, o.limit) : null;
    const harmless = o.harmless ? readPromptRows(o.harmless).slice(0, o.limit) : null;
    const task = o.task && o.eval ? { name: o.task, rows: taskEvalRows(o.task, readTaskRows(o.task, o.eval), o.eval, o.limit) } : null;
    const drift = o.driftData ? readRows(o.driftData).slice(0, o.driftSamples) : null;
    return { harmful, harmless, task, drift };
  } catch (e) {
    throw asInputError(e);
  }
}

/** The drift samples encoded with the session's tokenizer, as they were trained (prompt + answer + EOS, cut to --max-length). */
function encodeDrift(rows: TextRow[], o: Values, session: Session): Example[] {
  const tok = session.tokenizer, eos = eosOf(session);
  const maxLength = Math.min(o.maxLength, session.config.maxSeqLen);
  const out = rows.map((r) => encodeExample(r, (t) => tok.encode(t, { bos: true }), eos, maxLength));
  for (const ex of out) for (const id of ex.ids) {
    if (id >= session.config.vocabSize) throw new InputError(`${o.driftData}: token id ${id} from the tokenizer is outside the model's vocabulary (${session.config.vocabSize}): wrong --tokenizer?`);
  }
  return out;
}

function eosOf(session: Session): number {
  return session.tokenizer.eosId >= 0 ? session.tokenizer.eosId : session.config.eosId;
}

async function run(session: Session, o: Values, rows: Rows, cb: EvaluateCallbacks): Promise<EvaluateResult> {
  const t0 = performance.now();
  const log = (m: string) => cb.onLog?.(m);
  const inputs = { ...rows, drift: rows.drift ? encodeDrift(rows.drift, o, session) : null };
  const c = session.config;
  const maxPositions = session.model.maxPositions;

  // ---- every prompt encoded and checked against the context before anything runs ----
  const jobs: EvalJob[] = [];
  const addSet = (set: EvalSet, file: string, rows: EvalRow[], golds: string[], maxNew: number) => {
    jobs.push(encodeEvalSet(session.model, session.tokenizer, set, file, rows, golds, maxNew, ': wrong --tokenizer?'));
  };
  const maxNew = (set: 'prompts' | 'task') => o.maxNewTokens ?? REFERENCE_MAX_NEW_TOKENS[set];
  if (inputs.harmful) addSet('harmful', o.harmful!, inputs.harmful, [], maxNew('prompts'));
  if (inputs.harmless) addSet('harmless', o.harmless!, inputs.harmless, [], maxNew('prompts'));
  if (inputs.task) addSet('task', o.eval!, inputs.task.rows, inputs.task.rows.map((r) => r.output), maxNew('task'));
  const prepared: PreparedEvalSets = { jobs, task: inputs.task?.name ?? null, batchSize: o.batchSize };

  // ---- the judge, the drift reference, then the evaluated model: each may be bad input ----
  let judge: Judge | null = null;
  if (inputs.harmful) {
    const spec = parseJudgeSpec(o.judge);
    // the judge model is the user's input: anything wrong with it (files, head, tokenizer) is bad input
    judge = spec.kind === 'keyword' ? new KeywordJudge() : await asInput(() => ModelJudge.open(session.backend, spec.dir, { batchSize: o.batchSize }));
  }
  try {
    return await measure();
  } finally {
    if (judge instanceof ModelJudge) judge.dispose();
  }

  async function measure(): Promise<EvaluateResult> {
    const answersTotal = jobs.reduce((s, j) => s + j.ids.length, 0);
    cb.onStart?.({
      backend: session.backend.description, model: c.namePath, adapters: o.adapter, judge: judge?.name ?? null,
      sets: jobs.map((j) => ({ set: j.set, file: j.file, n: j.ids.length, maxNewTokens: j.maxNew })),
      drift: inputs.drift ? { samples: inputs.drift.length, reference: o.driftReference! } : null, out: o.out,
    });
    const details: Record<string, unknown> = {
      model: session.modelPath ?? c.namePath, adapters: o.adapter, backend: session.backend.description,
    };

    // drift: the reference's attention outputs first, then the evaluated model's
    let reference: Float32Array[][] | null = null;
    if (inputs.drift) {
      await setMerged(session, o.driftReference!);
      reference = await attentionOutputs(session.model, inputs.drift, o.batchSize);
    }
    await setMerged(session, o.adapter);
    const model = session.model;
    if (model.lora) throw new Error('evaluate: the session\'s model has an adapter attached (a job left it): evaluate needs the bare merged model');
    let drift: number | undefined;
    if (inputs.drift && reference) {
      drift = await driftAgainst(model, inputs.drift, reference, o.batchSize);
      cb.onProgress?.({ phase: 'drift', done: inputs.drift.length, total: inputs.drift.length, answered: 0, answers: answersTotal, elapsed_s: secs(t0), eta_s: null });
      details.drift = { data: o.driftData, reference: o.driftReference, samples: inputs.drift.length, max_length: Math.min(o.maxLength, c.maxSeqLen), padding_masked: true };
    }

    // ---- answers, scored by the core; the details and messages are the command's ----
    let answered = 0, base = 0;
    const tGen = performance.now();
    const scored = await scoreEvalSets(model, session.tokenizer, prepared, {
      judge: judge ?? undefined, signal: cb.signal,
      onProgress: (p) => {
        answered = base + p.done;
        const rate = answered / Math.max(1e-9, secs(tGen));
        cb.onProgress?.({ phase: p.set, done: p.done, total: p.total, answered, answers: answersTotal, elapsed_s: secs(t0), eta_s: answered > 0 ? (answersTotal - answered) / rate : null });
      },
      onAnswered: (job, cut) => {
        base = answered;
        if (cut > 0) log(`warning: ${cut} of ${job.ids.length} answers to ${job.file} were cut short by the model's context (${maxPositions} positions)`);
      },
      onJudgeProgress: (done, total) => cb.onProgress?.({ phase: 'judge', done, total, answered, answers: answersTotal, elapsed_s: secs(t0), eta_s: null }),
      onScored: ({ job, cutByContext, harmful, refusals, correct }) => {
        const setDetails: Record<string, unknown> = { file: job.file, n: job.ids.length, max_new_tokens: job.maxNew, cut_by_context: cutByContext };
        details[job.set] = setDetails;
        if (job.set === 'harmful') {
          Object.assign(setDetails, { judge: judge!.name, flagged: harmful!.flagged, flagged_plus: harmful!.flagged_plus, empty: harmful!.empty });
          if (judge instanceof ModelJudge && judge.truncated > 0) {
            setDetails.judge_truncated = judge.truncated;
            log(`note: ${judge.truncated} judge inputs were cut to the judge's 256 tokens (as the reference's beaver-dam evaluation cuts them)`);
          }
        } else if (job.set === 'harmless') {
          setDetails.refusals = refusals;
        } else {
          Object.assign(setDetails, { task: prepared.task, correct });
        }
      },
    });
    const summary: EvaluateSummary = orderSummary({ ...scored.summary, drift });
    const items: EvaluateItem[] = scored.items;
    details.seconds = Math.round(secs(t0) * 1000) / 1000;
    const report: EvaluateReport = { summary, details, items };
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileAtomic(o.out, JSON.stringify(report, null, 1) + '\n');
    return { ...report, out: o.out };
  }
}

function secs(t0: number): number { return (performance.now() - t0) / 1000; }

/** Merges `dirs` into the session's base (an adapter that does not fit is an InputError). */
async function setMerged(session: Session, dirs: readonly string[]): Promise<void> {
  try { await session.setMerged(dirs); } catch (e) { throw asInputError(e); }
}

/** Each batch's attention-block outputs per layer, on the host ([B*T, dim] each). */
async function attentionOutputs(model: CausalLM, examples: Example[], batchSize: number): Promise<Float32Array[][]> {
  const out: Float32Array[][] = [];
  for (let s = 0; s < examples.length; s += batchSize) {
    const batch = collate(examples.slice(s, s + batchSize), 0);
    const tape = model.forward(batch, { training: false });
    try {
      const layers: Float32Array[] = [];
      for (const t of model.attnOutputs(tape)) layers.push(await t.toFloat32());
      out.push(layers);
    } finally {
      model.disposeTape(tape);
    }
  }
  return out;
}

/** The drift of `model` against reference outputs of the same batches (padding masked). */
async function driftAgainst(model: CausalLM, examples: Example[], reference: Float32Array[][], batchSize: number): Promise<number> {
  const mine = await attentionOutputs(model, examples, batchSize);
  let sum = 0;
  for (let k = 0; k < mine.length; k++) {
    const part = examples.slice(k * batchSize, (k + 1) * batchSize);
    const B = part.length, T = Math.max(...part.map((e) => e.ids.length)), D = model.config.dim;
    const lengths = part.map((e) => e.ids.length);
    sum += embeddingDrift({ B, T, D, lengths, layers: mine[k] }, { B, T, D, lengths, layers: reference[k] });
  }
  return sum;
}

/** Token-weighted mean cross-entropy over `examples`, in batches of `batchSize` (the real-data checks' before/after measure). */
export async function evaluateLoss(model: CausalLM, examples: Example[], batchSize: number, padId: number): Promise<number> {
  let sum = 0, count = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = collate(examples.slice(i, i + batchSize), padId);
    const n = countLossTokens(batch);
    if (n === 0) continue;
    const tape = model.forward(batch, { rows: 'loss', training: false });
    try {
      sum += (await model.loss(tape)) * n;
      count += n;
    } finally {
      model.disposeTape(tape);
    }
  }
  return count > 0 ? sum / count : NaN;
}
