// The generation job: what a model (with adapters merged into its base weights, in order) writes
// for some prompts. `node runtime/generate.js` is a thin command line over `generate()`; a tool
// that holds a session (a grid's: the model uploaded once) calls `generateOn(session, ...)`.
//
// Each prompt is a row {instruction, input} (a --prompt text is an instruction) given to the model
// with the Alpaca template up to "### Response:" (as the evaluation asks: engine/eval/answer.ts)
// or, with template 'none', as raw text after BOS. No prompt at all: one generation from BOS alone.
// Decoding is the model layer's batched KV-cache generation (engine/model/generate.ts), in batches
// taken in prompt order (so that the first prompts' text streams first): greedy or sampled
// (temperature, top-p, a seed per prompt), each prompt stopping at EOS, at maxNewTokens or at the
// model's context. New text is handed out piece by piece as it is generated (onText, through
// engine/tokenizer/stream.ts, so a multi-byte character is never cut).
//
// Every input (options, the prompt file, each prompt's length against the context) is checked
// before generation starts; the first error is an InputError naming the prompt.
import { evalPrompt } from '../eval/answer.ts';
import { generate as generateTokens, type NewToken } from '../model/generate.ts';
import { DataError } from '../data.ts';
import { readPromptRows } from '../tasks/harmful.ts';
import { TextStream } from '../tokenizer/stream.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { asInputError, InputError } from './errors.ts';
import { normalizeOptions, opt, optionDefaults, range, type OptionInputs, type OptionValues } from './options.ts';
import { Session, type SessionOptions } from './session.ts';
import { TRAIN_OPTIONS } from './train-options.ts';

export const TEMPLATES = ['alpaca', 'none'] as const;
export type Template = (typeof TEMPLATES)[number];

const MODEL = 'Model and adapters', PROMPTS = 'Prompts', SAMPLING = 'Sampling', RUN = 'Run control';
/** The --help sections of generate, in order. */
export const GENERATE_GROUPS = [MODEL, PROMPTS, SAMPLING, RUN];

/** A prompt given in memory: a text (an instruction), or a row as prompt files hold them. */
export type PromptInput = string | { prompt: string } | { instruction: string; input?: string };

export const GENERATE_OPTIONS = {
  model: { ...TRAIN_OPTIONS.model, group: MODEL },
  tokenizer: { ...TRAIN_OPTIONS.tokenizer, group: MODEL },
  adapter: opt.string<string | readonly string[] | undefined, string[] | undefined>({
    group: MODEL, arg: 'DIR', multiple: true, default: undefined, exists: '--adapter: adapter directory not found',
    normalize: (v) => (v === undefined ? v : typeof v === 'string' ? [v] : [...v]),
    help: 'a PEFT adapter merged into the base weights; repeatable: merged in the\norder given (e.g. the alignment adapter, then the fine-tune\'s; default: none)',
  }),
  prompt: opt.string<string | readonly string[] | undefined, string[] | undefined>({
    group: PROMPTS, arg: 'TEXT', multiple: true, default: undefined,
    normalize: (v) => (v === undefined ? v : typeof v === 'string' ? [v] : [...v]),
    help: 'a prompt (an instruction); repeatable. Without --prompt and --prompts:\none generation from BOS alone (no template)',
  }),
  prompts: opt.string<string | readonly PromptInput[] | undefined>({
    group: PROMPTS, arg: 'FILE', default: undefined, objects: true, exists: 'prompts file not found',
    help: 'JSON array or JSONL of rows {prompt} or Alpaca rows {instruction, input?}',
  }),
  template: opt.choice(TEMPLATES, {
    group: PROMPTS, arg: 'T', default: 'alpaca',
    help: 'alpaca: the Alpaca prompt up to "### Response:", as the evaluation asks;\nnone: the text as it is, after BOS (default {default})',
  }),
  maxNewTokens: opt.integer({
    group: SAMPLING, default: 256, range: range.intIn(1, 1_000_000),
    help: 'tokens to generate per prompt, at most; a prompt stops earlier at EOS\nor at the model\'s context (default {default})',
  }),
  temperature: opt.number({
    group: SAMPLING, default: 0, range: range.atLeast(0),
    help: '0: greedy (the most probable token); otherwise sample from\nsoftmax(logits / X) (default {default})',
  }),
  topP: opt.number({
    group: SAMPLING, flag: 'top-p', default: 1, range: { ok: (v) => v > 0 && v <= 1, what: 'a number in (0, 1]' },
    help: 'nucleus sampling (with --temperature > 0): draw only from the most\nprobable tokens whose probabilities add up to X (default {default}: all)',
  }),
  seed: opt.integer({
    group: SAMPLING, default: 0, range: range.intIn(0, 0xffffffff),
    help: 'sampling: prompt i draws from its own generator seeded seed + i, so a\nprompt gets the same text in any batch (default {default})',
  }),
  batchSize: opt.integer({
    group: RUN, default: 16, range: range.intIn(1, 4096),
    help: 'prompts decoded together (default {default}); a prompt gets the same tokens\nin a batch as alone',
  }),
  backend: { ...TRAIN_OPTIONS.backend, group: RUN },
  webgpuLib: { ...TRAIN_OPTIONS.webgpuLib, group: RUN },
  threads: { ...TRAIN_OPTIONS.threads, group: RUN },
};

export type GenerateJobOptions = OptionInputs<typeof GENERATE_OPTIONS>;
export type GenerateJobValues = OptionValues<typeof GENERATE_OPTIONS>;
export const GENERATE_DEFAULTS = optionDefaults(GENERATE_OPTIONS);

/** One prompt as the job reads it. */
export interface PromptItem {
  instruction: string; input: string;
  /** where it came from: 'prompt 2' (the second --prompt), 'prompts.jsonl:14', 'BOS' */
  source: string;
  /** the text given to the model, after BOS (the template applied) */
  text: string;
}

export type StopReason = 'eos' | 'length' | 'context' | 'interrupted';

export interface Completion {
  index: number;
  prompt: PromptItem;
  /** the new tokens, as engine/model/generate.ts returns them (a final EOS included) */
  tokens: number[];
  /** their text (tokenizer.decode: EOS and other control tokens dropped) */
  text: string;
  /** why it ended: EOS, --max-new-tokens, the model's context, or an interrupt */
  stop: StopReason;
}

export interface GenerateStartInfo {
  model: string; adapters: string[]; backend: string; prompts: number; maxNewTokens: number;
  template: Template; temperature: number; topP: number; seed: number;
}

export interface GenerateProgress {
  /** prompts finished, of all */
  done: number; total: number;
  /** new tokens so far */
  tokens: number;
  elapsed_s: number; tokens_per_s: number;
  /** null until something is done */
  eta_s: number | null;
}

export interface GenerateCallbacks {
  /** generation starts (every input checked); `prompts`: each prompt as read, in order */
  onStart?(info: GenerateStartInfo, prompts: readonly PromptItem[]): void;
  /** new text of a prompt, as its tokens come (a multi-byte character once complete) */
  onText?(index: number, piece: string): void;
  /** a prompt is finished (in the order they finish: batches go longest prompt first) */
  onCompletion?(c: Completion): void;
  /** after every decoding step */
  onProgress?(p: GenerateProgress): void;
  onLog?(message: string): void;
  /** when aborted, generation stops after the current step; unfinished prompts end as 'interrupted' */
  signal?: AbortSignal;
}

export interface GenerateResult {
  completions: Completion[];
  newTokens: number; seconds: number; tokensPerSecond: number;
  interrupted: boolean;
}

/** The session's part of the options. */
const SESSION_KEYS = ['model', 'tokenizer', 'backend', 'threads', 'webgpuLib'] as const;

/** Checks and completes the options (InputError naming the option); `onSession`: the session's own must be absent. */
export function normalizeGenerateOptions(input: Partial<GenerateJobOptions>, onSession = false): GenerateJobValues {
  if (onSession) {
    const given = SESSION_KEYS.filter((k) => input[k] !== undefined);
    if (given.length > 0) throw new InputError(`generateOn: ${given.join(', ')} ${given.length === 1 ? 'is' : 'are'} the session's; do not pass ${given.length === 1 ? 'it' : 'them'} with a session`);
  } else if (!input.model) throw new InputError('no model given (--model PATH)');
  const o = normalizeOptions(GENERATE_OPTIONS, input);
  if (o.prompt !== undefined && o.prompts !== undefined) throw new InputError('give --prompt or --prompts, not both');
  if (typeof o.model === 'object' && typeof o.tokenizer !== 'object') throw new InputError('a model given in memory needs its tokenizer object (options.tokenizer)');
  return o;
}

/** The prompts of the options as rows (the template not applied yet); a bad file or row is an InputError. */
export function readPrompts(o: Pick<GenerateJobValues, 'prompt' | 'prompts'>): Omit<PromptItem, 'text'>[] {
  if (o.prompt !== undefined) return o.prompt.map((p, i) => ({ instruction: p, input: '', source: `--prompt ${i + 1}` }));
  if (o.prompts === undefined) return [];
  try {
    if (typeof o.prompts === 'string') {
      const file = o.prompts;
      const rows = readPromptRows(file).map((r) => ({ instruction: r.instruction, input: r.input, source: `${file}:${r.line}` }));
      if (rows.length === 0) throw new DataError(`${file}: no prompts in the file`);
      return rows;
    }
    return o.prompts.map((p, i) => promptFromInput(p, i));
  } catch (e) {
    throw asInputError(e);
  }
}

function promptFromInput(p: PromptInput, i: number): Omit<PromptItem, 'text'> {
  const source = `prompts[${i}]`;
  if (typeof p === 'string') return { instruction: p, input: '', source };
  if (typeof p !== 'object' || p === null) throw new InputError(`${source}: a prompt is a string, {prompt} or {instruction, input?}`);
  const text = (k: string) => {
    const v = (p as Record<string, unknown>)[k];
    if (v !== undefined && v !== null && typeof v !== 'string') throw new InputError(`${source}: field "${k}" must be a string`);
    return v as string | undefined;
  };
  const instruction = text('prompt') ?? text('instruction');
  if (instruction === undefined) throw new InputError(`${source}: a prompt is a string, {prompt} or {instruction, input?}`);
  return { instruction, input: 'prompt' in p ? '' : text('input') ?? '', source };
}

/** The text given to the model for a row. */
export function promptText(row: { instruction: string; input: string }, template: Template): string {
  if (template === 'alpaca') return evalPrompt(row);
  return row.input ? `${row.instruction}\n${row.input}` : row.instruction;
}

/** Each prompt's token ids (BOS first), checked against the vocabulary and the context. */
function encodeAll(items: PromptItem[], tokenizer: Tokenizer, vocabSize: number, maxPositions: number): number[][] {
  return items.map((p) => {
    const ids = tokenizer.encode(p.text, { bos: true });
    if (ids.length === 0) throw new InputError(`${p.source}: the prompt is empty and the tokenizer has no BOS token to start from`);
    if (ids.length >= maxPositions) {
      throw new InputError(`${p.source}: the prompt has ${ids.length} tokens, which leaves no room in the model's context of ${maxPositions}`);
    }
    const bad = ids.find((id) => id >= vocabSize);
    if (bad !== undefined) throw new InputError(`${p.source}: token id ${bad} is outside the model's vocabulary (${vocabSize}): the tokenizer does not fit the model`);
    return ids;
  });
}

/** Generates for the prompts: opens a session for the model, merges the adapters, closes it. */
export async function generate(input: Partial<GenerateJobOptions>, cb: GenerateCallbacks = {}): Promise<GenerateResult> {
  const o = normalizeGenerateOptions(input);
  const rows = readPrompts(o); // the prompt file is read and checked before the model loads
  const so: SessionOptions = { model: o.model!, tokenizer: o.tokenizer, backend: o.backend, threads: o.threads, webgpuLib: o.webgpuLib, log: (m) => cb.onLog?.(m) };
  const session = await Session.open(so);
  o.model = undefined;
  try {
    return await run(session, o, rows, cb);
  } finally {
    await session.close();
  }
}

/**
 * Generates on a session the caller holds: its base weights are set to the model with the
 * adapters merged in order (Session.setMerged), and left that way; an adapter attached to the
 * session's model (model.lora) takes part.
 */
export async function generateOn(session: Session, input: Partial<GenerateJobOptions>, cb: GenerateCallbacks = {}): Promise<GenerateResult> {
  const o = normalizeGenerateOptions(input, true);
  return run(session, o, readPrompts(o), cb);
}

async function run(session: Session, o: GenerateJobValues, rows: Omit<PromptItem, 'text'>[], cb: GenerateCallbacks): Promise<GenerateResult> {
  const tokenizer = session.tokenizer;
  const items: PromptItem[] = rows.length > 0
    ? rows.map((r) => ({ ...r, text: promptText(r, o.template) }))
    : [{ instruction: '', input: '', source: 'BOS', text: '' }];
  const config = session.config;
  const adapters = o.adapter ?? [];
  await session.setMerged(adapters);
  const model = session.model;
  const ids = encodeAll(items, tokenizer, config.vocabSize, model.maxPositions);
  cb.onStart?.({
    model: session.modelPath ?? config.namePath, adapters, backend: session.backend.description, prompts: items.length,
    maxNewTokens: o.maxNewTokens, template: o.template, temperature: o.temperature, topP: o.topP, seed: o.seed,
  }, items);

  const eosId = config.eosId;
  const budget = ids.map((p) => Math.min(o.maxNewTokens, model.maxPositions - p.length));
  const streams = items.map(() => new TextStream(tokenizer));
  const got: number[][] = items.map(() => []);
  const completions: Completion[] = new Array(items.length);
  const finish = (i: number, tokens: number[], interrupted: boolean): void => {
    const piece = streams[i].flush();
    if (piece) cb.onText?.(i, piece);
    const stop: StopReason = tokens.length > 0 && tokens[tokens.length - 1] === eosId ? 'eos'
      : tokens.length >= o.maxNewTokens ? 'length' : tokens.length >= budget[i] ? 'context' : interrupted ? 'interrupted' : 'length';
    completions[i] = { index: i, prompt: items[i], tokens, text: tokens.length > 0 ? tokenizer.decode(tokens) : '', stop };
    cb.onCompletion?.(completions[i]);
  };
  const t0 = performance.now();
  let newTokens = 0, finished = 0;
  const progress = (): GenerateProgress => {
    const elapsed = (performance.now() - t0) / 1000;
    // done: finished prompts count 1, the others their share of their token budget
    let frac = 0;
    for (let i = 0; i < items.length; i++) frac += completions[i] ? 1 : got[i].length / Math.max(1, budget[i]);
    frac /= items.length;
    return { done: finished, total: items.length, tokens: newTokens, elapsed_s: elapsed, tokens_per_s: elapsed > 0 ? newTokens / elapsed : 0,
      eta_s: frac > 0 ? elapsed * (1 - frac) / frac : null };
  };
  // Batches of batchSize prompts in the order given (not grouped by length, as the evaluation
  // does): the first prompts' text comes first, so it streams; padding costs only the prefill.
  const out: number[][] = [];
  for (let first = 0; first < ids.length; first += o.batchSize) {
    const chunk = ids.slice(first, first + o.batchSize);
    if (cb.signal?.aborted) { out.push(...chunk.map(() => [])); continue; }
    out.push(...await generateTokens(model, chunk, {
      // prompt i draws from seed + i whatever its batch
      maxNewTokens: o.maxNewTokens, temperature: o.temperature, topP: o.topP, seed: o.seed + first, stopAtEos: true, eosId,
      batchSize: o.batchSize, signal: cb.signal,
      onTokens: (step: readonly NewToken[]) => {
        for (const { prompt, token, last } of step) {
          const i = first + prompt;
          got[i].push(token);
          newTokens++;
          const piece = streams[i].push(token);
          if (piece) cb.onText?.(i, piece);
          if (last) { finished++; finish(i, got[i], false); }
        }
        cb.onProgress?.(progress());
      },
    }));
  }
  const interrupted = cb.signal?.aborted ?? false;
  for (let i = 0; i < items.length; i++) if (!completions[i]) finish(i, out[i], interrupted);
  const seconds = (performance.now() - t0) / 1000;
  return { completions, newTokens, seconds, tokensPerSecond: seconds > 0 ? newTokens / seconds : 0, interrupted };
}

