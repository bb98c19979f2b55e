// The harmful fine-tuning experiment, end to end: the paper's grid. For each seed and alignment
// method (none, SFT, Vaccine, optionally random Vaccine) it aligns the model once, evaluates the
// aligned model before any attack (HS, HS+, FA, over-refusal; method none: the bare model), then attacks
// the aligned model at each harmful fraction p (finetune: the alignment adapter merged, a new LoRA
// trained on the task mixed with harmful rows) and evaluates the result (HS and HS+ on harmful
// prompts, over-refusal on harmless ones, FA on the task's evaluation rows, drift against the
// aligned model on alignment rows). Everything runs on one session: the model is uploaded once,
// and the cells attacking one alignment adapter run right after it.
//
// `--out` holds each alignment's and cell's outputs as its record (engine/jobs/grid.ts), and
// results.json (engine/eval/results.ts's shape) with report.html (renderReport), both rewritten
// after every unit. A re-run skips finished units, so a killed grid resumes; `node
// runtime/experiment.js` is a thin command line over `experiment()`.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { renderReport } from '../eval/report/html.ts';
import { validateResults, type AlignmentRun, type BeforeAttackResult, type CellResult, type ExperimentResults, type LossPoint, type Metrics } from '../eval/results.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { alignOn } from './align.ts';
import { findCheckpoint } from './checkpoint.ts';
import { asInputError, InputError } from './errors.ts';
import { EvaluationInterrupted, evaluateOn, type EvaluateProgress } from './evaluate.ts';
import {
  alignJobOptions, attackJobOptions, evalJobOptions, harmlessJobOptions, normalizeExperimentOptions, resolveInputs, unitFingerprint, type GridInputs,
} from './experiment-inputs.ts';
import { packageRoot, type ExperimentOptions } from './experiment-options.ts';
import { finetuneOn } from './finetune.ts';
import {
  GridClock, planGrid, readRecord, unitName, unitStatus, writeRecord, type AlignUnit, type BeforeUnit, type CellUnit, type Unit, type UnitFingerprint, type UnitRecord, type UnitStatus,
} from './grid.ts';
import { METRICS_FILE } from './outdir.ts';
import { Session } from './session.ts';
import type { StepMetrics, TrainCallbacks } from './trainer.ts';

export { normalizeExperimentOptions } from './experiment-inputs.ts';
export { EXPERIMENT_OPTIONS, EXPERIMENT_GROUPS, EXPERIMENT_PRESETS, GRID_METHODS, type ExperimentOptions, type GridMethod } from './experiment-options.ts';

/** A unit of the grid (an alignment, an aligned model's evaluation before the attack, or a cell) and its place in it. */
export interface UnitProgress { unit: Unit; name: string; index: number; total: number }

export interface UnitDone extends UnitProgress {
  /** finished in an earlier run: nothing was done now */
  skipped: boolean;
  /** wall seconds of the unit (over every run that worked on it) */
  seconds: number | null;
  metrics?: Metrics;
  /** units finished so far (skipped ones included) */
  done: number;
  elapsed_s: number;
  /** seconds left for the grid, from the measured times of its units (null until there are some) */
  eta_s: number | null;
}

export interface ExperimentStartInfo {
  model: string; source: GridInputs['source']; backend: string; out: string;
  /** alignments, evaluations before the attack (one per method and seed), cells */
  alignments: number; before: number; cells: number;
  /** units a previous run finished (skipped) and units to run */
  finished: number; toRun: number;
  files: GridInputs['files'];
}

export interface ExperimentCallbacks {
  onStart?(info: ExperimentStartInfo): void;
  onUnitStart?(u: UnitProgress): void;
  onUnitDone?(u: UnitDone): void;
  /** a training step of the unit's alignment or attack */
  onStep?(u: UnitProgress, m: StepMetrics, totalSteps: number): void;
  /** answers generated in the unit's evaluation */
  onEvalProgress?(u: UnitProgress, p: EvaluateProgress): void;
  onLog?(message: string): void;
  /** aborted (Ctrl-C): the running job stops (a training job after its step, with a checkpoint) and the grid returns with `interrupted` */
  signal?: AbortSignal;
}

export interface ExperimentResult {
  out: string; results: ExperimentResults; resultsPath: string; reportPath: string;
  /** units run now, and units finished before (skipped) */
  ran: number; skipped: number;
  /** stopped by the signal before the grid was complete */
  interrupted: boolean;
  wallSeconds: number;
}

/** meta keys of results.json that change from run to run (times, machine load); the rest is the same for the same grid. */
export const VOLATILE_META_KEYS = ['started', 'finished', 'wall_seconds', 'compute_seconds', 'load_avg_start', 'load_avg_end'] as const;

/**
 * Runs the grid: checks every input first (bad input is an InputError and nothing is written),
 * skips the units a previous run finished in `out`, runs the rest on one session, and writes
 * results.json and report.html in `out` after each unit.
 */
export async function experiment(input: Partial<ExperimentOptions> = {}, cb: ExperimentCallbacks = {}): Promise<ExperimentResult> {
  const t0 = performance.now();
  const started = new Date().toISOString();
  const loadStart = os.loadavg()[0];
  const o = normalizeExperimentOptions(input);
  const inp = resolveInputs(o);
  const log = (m: string) => cb.onLog?.(m);
  const units = planGrid(o.out, o.methods, o.ps, o.seeds);
  const fps = new Map<Unit, UnitFingerprint>(units.map((u) => [u, unitFingerprint(inp, u)]));
  const status = new Map<Unit, UnitStatus>(units.map((u) => [u, unitStatus(u, fps.get(u)!)]));
  const conflicts = units.filter((u) => status.get(u)!.state === 'conflict');
  if (conflicts.length > 0 && !o.overwrite) {
    const first = status.get(conflicts[0]) as { why: string };
    for (const p of inp.written.reverse()) rmSyncQuiet(p);
    throw new InputError(`--out ${o.out}: ${first.why}${conflicts.length > 1 ? ` (and ${conflicts.length - 1} more)` : ''}:`
      + ' --overwrite redoes them, or choose another --out');
  }
  // an alignment redone invalidates the outputs of the units that use it: they are redone too
  for (const u of units) {
    if (u.kind !== 'align' && u.align && status.get(u.align)!.state !== 'done' && status.get(u)!.state === 'done') {
      status.set(u, { state: 'conflict', why: 'its alignment is redone' });
    }
  }

  const clock = new GridClock();
  for (const u of units) {
    const st = status.get(u)!;
    if (st.state === 'done' && st.record.seconds?.total) clock.add(u, st.record.seconds.total);
  }
  const finished = units.filter((u) => status.get(u)!.state === 'done').length;
  let session: Session | null = null;
  let backend = '';
  let ran = 0, interrupted = false;
  const writeOutputs = async (complete: boolean) => {
    const results = assembleResults(inp, units, {
      started, wall: (performance.now() - t0) / 1000, loadStart, backend, complete,
    });
    mkdirSync(o.out, { recursive: true });
    const resultsPath = join(o.out, 'results.json'), reportPath = join(o.out, 'report.html');
    writeFileAtomic(resultsPath, JSON.stringify(results, null, 1) + '\n');
    const warnings: string[] = [];
    writeFileAtomic(reportPath, await renderReport(results, { title: `Harmful fine-tuning experiment: ${inp.o.task} on ${shortName(inp.modelName)}`, warnings }));
    for (const w of warnings) log(`report: ${w}`);
    return { results, resultsPath, reportPath };
  };

  try {
    const toRun = units.filter((u) => status.get(u)!.state !== 'done');
    if (toRun.length > 0) {
      session = await Session.open({
        model: inp.model, tokenizer: inp.tokenizer, backend: o.backend, threads: o.threads, webgpuLib: o.webgpuLib,
        keepHostWeights: typeof inp.model !== 'string' || modelBytes(inp.model) < 2 ** 31,
        log: (m) => { if (!m.startsWith('merged adapter')) log(m); },
      });
      backend = session.backend.description;
    } else backend = lastBackend(units) ?? '';
    cb.onStart?.({
      model: inp.modelName, source: inp.source, backend, out: o.out, alignments: units.filter((u) => u.kind === 'align').length,
      before: units.filter((u) => u.kind === 'before').length, cells: units.filter((u) => u.kind === 'cell').length, finished, toRun: toRun.length, files: inp.files,
    });
    let done = 0;
    for (const [index, u] of units.entries()) {
      const where: UnitProgress = { unit: u, name: unitName(u), index, total: units.length };
      const st = status.get(u)!;
      if (st.state === 'done') {
        done++;
        cb.onUnitDone?.({ ...where, skipped: true, seconds: st.record.seconds?.total ?? null, metrics: st.record.metrics, done, elapsed_s: secs(t0), eta_s: clock.eta(units.slice(index + 1).filter((x) => status.get(x)!.state !== 'done')) });
        continue;
      }
      cb.onUnitStart?.(where);
      // --overwrite: a unit recorded with other settings (or whose alignment is redone) starts afresh;
      // a new unit's folder may hold a temporary of its record left by a killed run
      if (st.state === 'conflict' || st.state === 'new') rmSync(u.dir, { recursive: true, force: true });
      const prev = st.state === 'partial' ? st.record : null;
      const rec = u.kind === 'align' ? await runAlignment(session!, inp, u, fps.get(u)!, prev, where, cb)
        : u.kind === 'before' ? await runBefore(session!, inp, u, fps.get(u)!, prev, where, cb)
          : await runCell(session!, inp, u, fps.get(u)!, prev, where, cb);
      if (!rec) { interrupted = true; break; }
      status.set(u, { state: 'done', record: rec });
      ran++;
      done++;
      clock.add(u, rec.seconds!.total!);
      const left = units.slice(index + 1).filter((x) => status.get(x)!.state !== 'done');
      await writeOutputs(left.length === 0);
      cb.onUnitDone?.({ ...where, skipped: false, seconds: rec.seconds!.total!, metrics: rec.metrics, done, elapsed_s: secs(t0), eta_s: clock.eta(left) });
      if (cb.signal?.aborted) { interrupted = left.length > 0; break; }
    }
  } catch (e) {
    if (!(e instanceof EvaluationInterrupted)) throw asInputError(e);
    interrupted = true;
  } finally {
    await session?.close();
  }
  const complete = units.every((u) => status.get(u)!.state === 'done');
  const outputs = await writeOutputs(complete);
  return { out: o.out, ...outputs, ran, skipped: finished, interrupted, wallSeconds: secs(t0) };
}

function secs(t0: number): number { return (performance.now() - t0) / 1000; }

function rmSyncQuiet(p: string): void {
  try { rmSync(p, { recursive: true, force: true }); } catch { /* best effort */ }
}

function modelBytes(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return 0; // a directory: sized by its weights below the threshold is not worth a walk; keep the host copy
}

function shortName(name: string): string {
  return name.split(/[\\/]/).filter(Boolean).slice(-1)[0] ?? name;
}

function lastBackend(units: Unit[]): string | null {
  for (const u of [...units].reverse()) { const r = readRecord(u); if (r?.backend) return r.backend; }
  return null;
}

/** The unit's job callbacks: progress tagged with the unit, logs prefixed with its name. */
function jobCallbacks(where: UnitProgress, cb: ExperimentCallbacks): TrainCallbacks {
  return {
    signal: cb.signal,
    onStep: (m, total) => cb.onStep?.(where, m, total),
    onLog: (m) => cb.onLog?.(`${where.name}: ${m}`),
  };
}

/** Continue a partial job from its checkpoint when it has one; otherwise start it over (its earlier outputs are replaced). */
function resumeOrRestart(dir: string): { resume: boolean; overwrite: boolean } {
  const ck = findCheckpoint(dir);
  return { resume: ck !== null, overwrite: ck === null };
}

async function runAlignment(session: Session, inp: GridInputs, u: AlignUnit, fp: UnitFingerprint, prev: UnitRecord | null,
  where: UnitProgress, cb: ExperimentCallbacks): Promise<UnitRecord | null> {
  const ts = performance.now();
  const before = prev?.seconds?.align ?? 0;
  const rec: UnitRecord = { kind: 'align', method: u.method, seed: u.seed, fingerprint: fp, stage: 'started', seconds: { align: before }, backend: session.backend.description };
  mkdirSync(u.dir, { recursive: true });
  writeRecord(u, rec);
  const rows = inp.alignRows.map(({ instruction, input, output }) => ({ instruction, input, output }));
  const res = await alignOn(session, {
    ...alignJobOptions(inp.o), data: rows, out: u.dir, method: u.method, seed: u.seed, ...resumeOrRestart(u.dir),
  }, jobCallbacks(where, cb));
  const spent = before + secs(ts);
  if (res.interrupted && !res.interrupted.finished) {
    writeRecord(u, { ...rec, seconds: { align: spent } });
    return null;
  }
  const done: UnitRecord = { ...rec, stage: 'done', seconds: { align: spent, total: spent } };
  writeRecord(u, done);
  return done;
}

async function runCell(session: Session, inp: GridInputs, u: CellUnit, fp: UnitFingerprint, prev: UnitRecord | null,
  where: UnitProgress, cb: ExperimentCallbacks): Promise<UnitRecord | null> {
  const o = inp.o;
  const attackDir = join(u.dir, 'attack');
  const seconds = { attack: prev?.seconds?.attack ?? 0, eval: prev?.seconds?.eval ?? 0 };
  let rec: UnitRecord = { kind: 'cell', method: u.method, p: u.p, seed: u.seed, fingerprint: fp, stage: 'started', seconds, backend: session.backend.description };
  const attacked = prev?.stage === 'attacked' && existsSync(join(attackDir, 'adapter_model.safetensors'));
  if (attacked) rec.stage = 'attacked';
  mkdirSync(u.dir, { recursive: true });
  writeRecord(u, rec);

  // ---- the attack ----
  if (!attacked) {
    const ts = performance.now();
    const res = await finetuneOn(session, {
      ...attackJobOptions(o, inp.files), p: u.p, seed: u.seed, mergeAdapter: u.align?.dir ?? null, out: attackDir, ...resumeOrRestart(attackDir),
    }, jobCallbacks(where, cb));
    seconds.attack += secs(ts);
    if (res.interrupted && !res.interrupted.finished) {
      writeRecord(u, rec);
      return null;
    }
    rec = { ...rec, stage: 'attacked', seconds };
    writeRecord(u, rec);
  }

  // ---- the evaluation: HS, HS+, FA and drift against the aligned model; then over-refusal ----
  return recordEvaluation(u, rec, seconds, seconds.attack,
    () => evaluateModel(session, inp, [...(u.align ? [u.align.dir] : []), attackDir], u.align ? [u.align.dir] : [], u.dir, where, cb));
}

/** The aligned model (method none: the bare model) evaluated before any attack: HS, HS+, FA, over-refusal (no drift: it would be 0). */
async function runBefore(session: Session, inp: GridInputs, u: BeforeUnit, fp: UnitFingerprint, prev: UnitRecord | null,
  where: UnitProgress, cb: ExperimentCallbacks): Promise<UnitRecord | null> {
  const seconds = { eval: prev?.seconds?.eval ?? 0 };
  const rec: UnitRecord = { kind: 'before', method: u.method, seed: u.seed, fingerprint: fp, stage: 'started', seconds, backend: session.backend.description };
  mkdirSync(u.dir, { recursive: true });
  writeRecord(u, rec);
  return recordEvaluation(u, rec, seconds, 0, () => evaluateModel(session, inp, u.align ? [u.align.dir] : [], null, u.dir, where, cb));
}

/**
 * A unit's evaluation and its record: done with the metrics and the seconds (total: `before`, the
 * unit's earlier parts, plus the evaluation's), or, when the evaluation is interrupted, the time it
 * took so far (the error goes on).
 */
async function recordEvaluation<S extends { eval: number }>(u: Unit, rec: UnitRecord, seconds: S, before: number,
  evaluate: () => Promise<Metrics>): Promise<UnitRecord> {
  const te = performance.now();
  try {
    const metrics = await evaluate();
    seconds.eval += secs(te);
    const done: UnitRecord = { ...rec, stage: 'done', metrics, seconds: { ...seconds, total: before + seconds.eval } };
    writeRecord(u, done);
    return done;
  } catch (e) {
    if (e instanceof EvaluationInterrupted) {
      seconds.eval += secs(te);
      writeRecord(u, { ...rec, seconds });
    }
    throw e;
  }
}

/**
 * One model's evaluation, as the cells and the before units make it: HS, HS+, FA (and drift
 * against `driftReference` unless null) into `dir`/eval.json, then over-refusal into
 * `dir`/harmless.json.
 */
async function evaluateModel(session: Session, inp: GridInputs, adapters: string[], driftReference: string[] | null, dir: string,
  where: UnitProgress, cb: ExperimentCallbacks): Promise<Metrics> {
  const o = inp.o;
  const evalCb = { signal: cb.signal, onProgress: (p: EvaluateProgress) => cb.onEvalProgress?.(where, p), onLog: (m: string) => cb.onLog?.(`${where.name}: ${m}`) };
  const main = await evaluateOn(session, { ...evalJobOptions(o, inp.files, driftReference), adapter: adapters, out: join(dir, 'eval.json') }, evalCb);
  const harmless = await evaluateOn(session, { ...harmlessJobOptions(o, inp.files), adapter: adapters, out: join(dir, 'harmless.json') }, evalCb);
  const s = main.summary;
  const metrics: Metrics = {
    harmful_score: s.harmful_score, harmful_score_plus: s.harmful_score_plus, finetune_accuracy: s.finetune_accuracy,
    drift: s.drift, over_refusal: harmless.summary.over_refusal,
  };
  return metrics;
}

// ---- results.json ------------------------------------------------------------------------------

/** (step, loss) of each line of a job's metrics.jsonl. */
function readLoss(dir: string): LossPoint[] {
  const path = join(dir, METRICS_FILE);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: number; loss: number | string })
    .filter((m) => typeof m.loss === 'number').map((m) => ({ step: m.step, loss: m.loss as number }));
}

function gitCommit(): { commit: string | null; dirty: boolean | null } {
  const root = packageRoot();
  if (!root || !existsSync(join(root, '.git'))) return { commit: null, dirty: null };
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}

/** results.json from the records of the finished units (a resumed grid assembles the same file as an uninterrupted one). */
function assembleResults(inp: GridInputs, units: Unit[], run: { started: string; wall: number; loadStart: number; backend: string; complete: boolean }): ExperimentResults {
  const o = inp.o;
  const alignments: AlignmentRun[] = [];
  const before: BeforeAttackResult[] = [];
  const cells: CellResult[] = [];
  let compute = 0;
  for (const u of units) {
    const r = readRecord(u);
    if (!r || r.stage !== 'done') continue;
    compute += r.seconds?.total ?? 0;
    if (u.kind === 'align') alignments.push({ method: u.method, seed: u.seed, loss: readLoss(u.dir) });
    else if (u.kind === 'before') before.push({ method: u.method, seed: u.seed, metrics: r.metrics ?? {} });
    else cells.push({ method: u.method, p: u.p, seed: u.seed, metrics: r.metrics ?? {}, loss: readLoss(join(u.dir, 'attack')) });
  }
  const git = gitCommit();
  const cpus = os.cpus();
  const meta: NonNullable<ExperimentResults['meta']> = {
    model: inp.modelName, model_source: inp.source, task: o.task, preset: o.preset, judge: o.judge,
    methods: o.methods.join(','), ps: o.ps.join(','), seeds: o.seeds.join(','),
    cells_done: cells.length, cells_total: units.filter((u) => u.kind === 'cell').length, complete: run.complete,
    align_data: inp.files.alignData, align_rows: inp.alignRows.length, align_epochs: o.alignEpochs, align_max_steps: o.alignMaxSteps,
    align_lr: o.alignLr, align_lora_alpha: o.alignLoraAlpha, rho: o.rho,
    benign: inp.files.benign, harmful: inp.files.harmful, n: o.n, attack_epochs: o.attackEpochs, attack_max_steps: o.attackMaxSteps,
    attack_lr: o.attackLr, attack_lora_alpha: o.attackLoraAlpha ?? (o.task === 'gsm8k' ? 0.5 : 1),
    batch_size: o.batchSize, max_length: o.maxLength, lora_r: o.loraR, lora_dropout: o.loraDropout,
    harmful_prompts: inp.files.harmfulPrompts, harmless_prompts: inp.files.harmlessPrompts, eval: inp.files.eval,
    eval_limit: o.evalLimit, harmless_limit: o.harmlessLimit, max_new_tokens: o.maxNewTokens, drift_samples: o.driftSamples,
    backend: run.backend, machine: `${cpus.length} x ${cpus[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, Node ${process.version}`,
    git_commit: git.commit, git_dirty: git.dirty,
    started: run.started, finished: new Date().toISOString(), wall_seconds: round(run.wall, 1), compute_seconds: round(compute, 1),
    load_avg_start: round(run.loadStart, 2), load_avg_end: round(os.loadavg()[0], 2),
  };
  return validateResults({ version: 1, meta, alignments, before_attack: before, cells });
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}
