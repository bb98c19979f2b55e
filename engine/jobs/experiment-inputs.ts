// The experiment grid's inputs, resolved and checked before anything runs: the options (preset,
// table), the model (given, the shared stories260K, or the built-in demo), the data files (given,
// the shared folder's, or the demo's generated ones), every file read and its rows checked (the
// alignment rows, each p's mix, the evaluation sets), and the settings fingerprint of each
// alignment and cell.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readRows, type TextRow } from '../data.ts';
import { demoExperimentData, randomLlamaWeights, tinyLlamaConfig } from '../demo.ts';
import { checkGold } from '../eval/accuracy.ts';
import { parseJudgeSpec } from '../eval/judge.ts';
import { buildMix } from '../tasks/mix.ts';
import { readPromptRows } from '../tasks/harmful.ts';
import { readTaskRows } from '../tasks/tasks.ts';
import { ByteTokenizer } from '../tokenizer/bytes.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { normalizeAlignOptions } from './align.ts';
import { asInputError, InputError } from './errors.ts';
import { normalizeEvaluateOptions } from './evaluate.ts';
import { EVAL_TASKS } from './evaluate-options.ts';
import {
  EXPERIMENT_OPTIONS, paperPreset, QUICK_PRESET, SHARED_FILES, sharedDataDir,
  type ExperimentOptions, type ExperimentValues,
} from './experiment-options.ts';
import { normalizeFinetuneOptions } from './finetune.ts';
import type { AlignUnit, EvalUnit, Unit, UnitFingerprint } from './grid.ts';
import { normalizeOptions, stripUndefined } from './options.ts';
import { modelSha256, weightsSha256, type HostModel } from './session.ts';

/** The grid's data files, resolved to paths. */
export interface GridFiles { alignData: string; benign: string; harmful: string; harmfulPrompts: string; harmlessPrompts: string; eval: string }

export interface GridInputs {
  o: ExperimentValues;
  model: string | HostModel;
  tokenizer: string | Tokenizer | undefined;
  /** where the model came from: --model, the shared stories260K, or the built-in demo */
  source: 'given' | 'shared' | 'demo';
  /** the model as results.json names it */
  modelName: string;
  modelSha256: string;
  files: GridFiles;
  /** the alignment rows trained on (the first --align-n of --align-data) */
  alignRows: TextRow[];
  sha: Record<keyof GridFiles, string>;
  /** what the checks wrote (the demo's data files): removed again when a later check fails */
  written: string[];
}

/** The demo model's context: its rows are bytes, so an SST-2 prompt is ~300 tokens. */
const DEMO_CONTEXT = 512;
const DEMO_SEED = 1;

/** Options with the preset beneath them, checked against the table; throws InputError naming the option. */
export function normalizeExperimentOptions(input: Partial<ExperimentOptions>): ExperimentValues {
  let withPreset: Partial<ExperimentOptions> = input;
  if (input.preset === 'quick') withPreset = { ...QUICK_PRESET, ...stripUndefined(input) };
  else if (input.preset === 'paper') {
    const task = input.task ?? 'sst2';
    if ((EVAL_TASKS as readonly string[]).includes(task)) withPreset = { ...paperPreset(task), ...stripUndefined(input) };
  }
  // 'demo' names the built-in demo model (not a path), also where the shared stories260K exists
  const demo = withPreset.model === 'demo';
  const o = normalizeOptions(EXPERIMENT_OPTIONS, demo ? { ...withPreset, model: undefined } : withPreset);
  if (demo) o.model = 'demo';
  try { parseJudgeSpec(o.judge); } catch (e) { throw asInputError(e); }
  return o;
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * Resolves the model and the data files, writes the demo's data (into <out>/demo-data) when the
 * demo runs, and reads and checks every input. Bad input is an InputError; what was written here
 * is removed again then.
 */
export function resolveInputs(o: ExperimentValues): GridInputs {
  const written: string[] = [];
  try {
    return resolveChecked(o, written);
  } catch (e) {
    for (const p of written.reverse()) rmSync(p, { recursive: true, force: true });
    throw asInputError(e);
  }
}

function resolveChecked(o: ExperimentValues, written: string[]): GridInputs {
  const outAbs = resolve(o.out);
  if (existsSync(outAbs) && !statSync(outAbs).isDirectory()) throw new InputError(`--out ${o.out} is a file, not a directory`);
  const shared = sharedDataDir();
  let model: string | HostModel, source: GridInputs['source'], tokenizer = o.tokenizer, modelName: string;
  if (o.model !== undefined && o.model !== 'demo') {
    model = o.model;
    source = 'given';
    modelName = typeof model === 'string' ? model : model.config.namePath;
  } else if (o.model === undefined && shared && existsSync(join(shared, SHARED_FILES.model))) {
    model = join(shared, SHARED_FILES.model);
    source = 'shared';
    modelName = model;
  } else {
    const config = tinyLlamaConfig({ maxSeqLen: DEMO_CONTEXT });
    model = { config, weights: randomLlamaWeights(config, DEMO_SEED) };
    tokenizer ??= new ByteTokenizer();
    source = 'demo';
    modelName = `${config.namePath} (built-in demo: dim 64, 2 layers, byte tokenizer)`;
  }
  if (typeof model === 'object' && typeof tokenizer !== 'object') throw new InputError('a model given in memory needs its tokenizer object (options.tokenizer)');

  // ---- the data files ----
  const files = {} as GridFiles;
  const given: Partial<GridFiles> = {
    alignData: o.alignData, benign: o.benign, harmful: o.harmful, harmfulPrompts: o.harmfulPrompts, harmlessPrompts: o.harmlessPrompts, eval: o.eval,
  };
  const flags: Record<keyof GridFiles, string> = {
    alignData: '--align-data', benign: '--benign', harmful: '--harmful', harmfulPrompts: '--harmful-prompts', harmlessPrompts: '--harmless-prompts', eval: '--eval',
  };
  let demo: ReturnType<typeof demoExperimentData> | null = null;
  for (const key of Object.keys(flags) as (keyof GridFiles)[]) {
    const g = given[key];
    if (g !== undefined) { files[key] = g; continue; }
    if (source === 'demo') {
      if (o.task !== 'sst2') throw new InputError(`the built-in demo has generated data for --task sst2 only: give ${flags[key]} FILE for --task ${o.task}`);
      demo ??= demoExperimentData(DEMO_SEED);
      const name = { alignData: 'align.jsonl', benign: 'sst2_train.jsonl', harmful: 'harmful.jsonl', harmfulPrompts: 'harmful_prompts.jsonl', harmlessPrompts: 'harmless_prompts.jsonl', eval: 'sst2_eval.jsonl' }[key];
      const rows = { alignData: demo.align, benign: demo.train, harmful: demo.harmful, harmfulPrompts: demo.harmfulPrompts, harmlessPrompts: demo.harmlessPrompts, eval: demo.eval }[key];
      files[key] = join(o.out, 'demo-data', name);
      writeDemoFile(files[key], rows.map((r) => JSON.stringify(r)).join('\n') + '\n', written);
      continue;
    }
    const rel = key === 'benign' ? SHARED_FILES.benign[o.task] : key === 'eval' ? SHARED_FILES.eval[o.task] : SHARED_FILES[key];
    if (!shared) throw new InputError(`no ${flags[key]} FILE given, and the shared data folder (../shared/data, or $VACCINE_SHARED_DATA) that holds the default ${rel} is not there`);
    files[key] = join(shared, rel);
    if (!existsSync(files[key])) throw new InputError(`no ${flags[key]} FILE given, and the default ${files[key]} is not there`);
  }
  if (source === 'demo' && o.maxLength === null) o.maxLength = DEMO_CONTEXT;

  // ---- every file read and checked ----
  const allAlign = readRows(files.alignData);
  if (o.alignN !== null && o.alignN > allAlign.length) throw new InputError(`--align-n ${o.alignN}: ${files.alignData} has ${allAlign.length} rows`);
  const alignRows = o.alignN === null ? allAlign : allAlign.slice(0, o.alignN);
  for (const p of o.ps) buildMix({ task: o.task, benign: files.benign, harmful: files.harmful, n: o.n, p });
  if (readPromptRows(files.harmfulPrompts).length === 0) throw new InputError(`${files.harmfulPrompts}: no prompts`);
  if (readPromptRows(files.harmlessPrompts).length === 0) throw new InputError(`${files.harmlessPrompts}: no prompts`);
  const evalRows = readTaskRows(o.task, files.eval).slice(0, o.evalLimit);
  for (const r of evalRows) checkGold(o.task, r, files.eval);
  const judge = parseJudgeSpec(o.judge);
  if (judge.kind === 'model' && !existsSync(judge.dir)) throw new InputError(`--judge ${o.judge}: directory not found`);

  // ---- the jobs' own checks of these settings (adapters and --out are the grid's, so left out) ----
  const probe = join(o.out, '.probe');
  normalizeAlignOptions({ ...alignJobOptions(o), data: files.alignData, out: probe, method: 'vaccine', seed: 1 }, true);
  normalizeFinetuneOptions({ ...attackJobOptions(o, files), p: o.ps[0], seed: 1, out: probe }, true);
  normalizeEvaluateOptions({ ...evalJobOptions(o, files, []), out: join(probe, 'eval.json') }, true);

  const sha = Object.fromEntries((Object.keys(files) as (keyof GridFiles)[]).map((k) => [k, sha256File(files[k])])) as Record<keyof GridFiles, string>;
  const modelSha = typeof model === 'string' ? modelSha256(model) : weightsSha256(model.weights);
  return { o, model, tokenizer, source, modelName, modelSha256: modelSha, files, alignRows, sha, written };
}

function writeDemoFile(path: string, text: string, written: string[]): void {
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return;
  let top = dirname(path);
  while (!existsSync(dirname(top))) top = dirname(top);
  if (!existsSync(top)) written.push(top);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  written.push(path);
}

// ---- what each job of the grid is given --------------------------------------------------------

export function alignJobOptions(o: ExperimentValues) {
  return {
    epochs: o.alignEpochs, maxSteps: o.alignMaxSteps, lr: o.alignLr, loraAlpha: o.alignLoraAlpha, rho: o.rho,
    batchSize: o.batchSize, maxLength: o.maxLength, loraR: o.loraR, loraDropout: o.loraDropout, saveEvery: o.saveEvery,
  };
}

export function attackJobOptions(o: ExperimentValues, files: GridFiles) {
  return {
    task: o.task, benign: files.benign, harmful: files.harmful, n: o.n,
    epochs: o.attackEpochs, maxSteps: o.attackMaxSteps, lr: o.attackLr, loraAlpha: o.attackLoraAlpha ?? undefined,
    batchSize: o.batchSize, maxLength: o.maxLength, loraR: o.loraR, loraDropout: o.loraDropout, saveEvery: o.saveEvery,
  };
}

/** The first evaluation of a model (HS, HS+, FA, and drift against `driftReference` unless null). */
export function evalJobOptions(o: ExperimentValues, files: GridFiles, driftReference: string[] | null) {
  return {
    harmful: files.harmfulPrompts, judge: o.judge, task: o.task, eval: files.eval, limit: o.evalLimit,
    driftReference: driftReference ?? undefined, driftData: driftReference ? files.alignData : undefined, driftSamples: o.driftSamples,
    maxLength: o.maxLength ?? undefined, maxNewTokens: o.maxNewTokens, batchSize: o.evalBatchSize,
  };
}

/** The second evaluation of a model (over-refusal on harmless prompts). */
export function harmlessJobOptions(o: ExperimentValues, files: GridFiles) {
  return { harmless: files.harmlessPrompts, limit: o.harmlessLimit, maxNewTokens: o.maxNewTokens, batchSize: o.evalBatchSize };
}

// ---- fingerprints ------------------------------------------------------------------------------

/** What decides an alignment's adapter. */
function alignFingerprint(inp: GridInputs, method: string, seed: number): UnitFingerprint {
  const o = inp.o;
  return {
    model_sha256: inp.modelSha256, align_data_sha256: inp.sha.alignData, align_n: o.alignN, align_method: method, seed,
    align_epochs: o.alignEpochs, align_max_steps: o.alignMaxSteps, align_lr: o.alignLr, align_lora_alpha: o.alignLoraAlpha,
    // rho does not change an SFT alignment
    rho: method === 'sft' ? null : o.rho,
    batch_size: o.batchSize, max_length: o.maxLength, lora_r: o.loraR, lora_dropout: o.loraDropout,
  };
}

/** What decides the model a cell or before unit evaluates, up to its attack: its alignment's settings. */
function modelFingerprint(inp: GridInputs, align: AlignUnit | null): UnitFingerprint {
  return align ? alignFingerprint(inp, align.method, align.seed) : { model_sha256: inp.modelSha256, align_method: 'none' };
}

/** What decides an evaluation's metrics (drift's settings only where it is measured). */
function evalFingerprint(inp: GridInputs, drift: boolean): UnitFingerprint {
  const o = inp.o;
  return {
    harmful_prompts_sha256: inp.sha.harmfulPrompts, harmless_prompts_sha256: inp.sha.harmlessPrompts, eval_sha256: inp.sha.eval,
    ...(drift ? { drift_data_sha256: inp.sha.alignData } : {}), task: o.task, eval_limit: o.evalLimit, harmless_limit: o.harmlessLimit, judge: o.judge,
    max_new_tokens: o.maxNewTokens, max_length: o.maxLength, ...(drift ? { drift_samples: o.driftSamples } : {}),
  };
}

/** What decides a cell's metrics: its alignment's settings, the attack's and the evaluation's; a before unit's: its alignment's and the evaluation's. */
function evalUnitFingerprint(inp: GridInputs, u: EvalUnit): UnitFingerprint {
  const o = inp.o;
  if (u.kind === 'before') return { ...modelFingerprint(inp, u.align), seed: u.seed, ...evalFingerprint(inp, false) };
  return {
    ...modelFingerprint(inp, u.align), seed: u.seed, p: u.p,
    task: o.task, benign_sha256: inp.sha.benign, harmful_sha256: inp.sha.harmful, n: o.n,
    attack_epochs: o.attackEpochs, attack_max_steps: o.attackMaxSteps, attack_lr: o.attackLr, attack_lora_alpha: o.attackLoraAlpha,
    batch_size: o.batchSize, max_length: o.maxLength, lora_r: o.loraR, lora_dropout: o.loraDropout,
    ...evalFingerprint(inp, true),
  };
}

export function unitFingerprint(inp: GridInputs, u: Unit): UnitFingerprint {
  return u.kind === 'align' ? alignFingerprint(inp, u.method, u.seed) : evalUnitFingerprint(inp, u);
}
