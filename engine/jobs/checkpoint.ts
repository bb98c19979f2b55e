// Checkpoints of a training job, in `out/checkpoint-{step}/`: the adapter (PEFT files), the
// optimizer's moments (optimizer.safetensors) and trainer_state.json (the step, the optimizer's
// step count and the run's fingerprint). A checkpoint is written under a temporary name and
// renamed into place, so --resume only ever sees complete ones; and it is only resumed when its
// fingerprint (the settings, the model, the data: everything that decides the next steps) is the
// current run's.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { saveAdapter } from '../adapter.ts';
import type { Backend } from '../backend.ts';
import type { TextRow } from '../data.ts';
import { readSafetensors, writeSafetensors } from '../io/safetensors.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import type { Lora } from '../lora.ts';
import type { HostTensor, ModelConfig } from '../model/family.ts';
import type { Optimizer } from '../optim.ts';
import { InputError } from './errors.ts';

export type Fingerprint = Record<string, unknown>;

/** trainer_state.json */
export interface TrainerState {
  step: number; optimizer_step_count: number; fingerprint: Fingerprint;
  /** steps whose update was dropped for a non-finite value so far (absent in older checkpoints: 0) */
  skipped_nonfinite?: number;
}

/** A checkpoint found in `out` and checked against the current run. */
export interface Resume { dir: string; step: number; state: TrainerState }

const CHECKPOINT_RE = /^checkpoint-(\d+)$/;
export const TRAINER_STATE = 'trainer_state.json';
export const OPTIMIZER_STATE = 'optimizer.safetensors';

/** The complete checkpoints in `out` (those with a trainer_state.json), oldest first. */
export function listCheckpoints(out: string): { dir: string; step: number }[] {
  if (!existsSync(out)) return [];
  const found: { dir: string; step: number }[] = [];
  for (const name of readdirSync(out)) {
    const m = CHECKPOINT_RE.exec(name);
    if (!m) continue;
    const dir = join(out, name);
    if (existsSync(join(dir, TRAINER_STATE))) found.push({ dir, step: Number(m[1]) });
  }
  return found.sort((a, b) => a.step - b.step);
}

/** The latest complete checkpoint in `out`, if any. */
export function findCheckpoint(out: string): { dir: string; step: number } | null {
  return listCheckpoints(out).at(-1) ?? null;
}

/**
 * Deletes the oldest checkpoints in `out` beyond the newest `limit` (HF Trainer's
 * save_total_limit; null: keep all); returns the directories deleted.
 */
export function pruneCheckpoints(out: string, limit: number | null): string[] {
  if (limit === null) return [];
  const all = listCheckpoints(out);
  const old = all.slice(0, Math.max(0, all.length - limit)).map((c) => c.dir);
  for (const dir of old) rmSync(dir, { recursive: true, force: true });
  return old;
}

/** A sha256 of the parsed rows, so that another file with as many rows is caught. */
export function rowsSha256(rows: readonly TextRow[]): string {
  const h = createHash('sha256');
  for (const r of rows) h.update(JSON.stringify([r.instruction, r.input, r.output]) + '\n');
  return h.digest('hex');
}

/** A sha256 of the tokenized examples (ids and labels): what the tokenizer and --max-length made of the rows. */
export function examplesSha256(examples: readonly { ids: Int32Array; labels: Int32Array }[]): string {
  const h = createHash('sha256');
  for (const e of examples) {
    h.update(Buffer.from(Int32Array.of(e.ids.length).buffer));
    h.update(Buffer.from(e.ids.buffer, e.ids.byteOffset, e.ids.byteLength));
    h.update(Buffer.from(e.labels.buffer, e.labels.byteOffset, e.labels.byteLength));
  }
  return h.digest('hex');
}

/** The keys whose values differ, as "key: saved vs current" (JSON), or [] when all match. */
export function fingerprintDiff(saved: Fingerprint, current: Fingerprint): string[] {
  return Object.keys(current).filter((k) => JSON.stringify(current[k]) !== JSON.stringify(saved[k]))
    .map((k) => `${k}: ${JSON.stringify(saved[k])} vs ${JSON.stringify(current[k])}`);
}

/**
 * The checkpoint to resume from: the latest in `out` when `resume` is set, checked against
 * `fingerprint` (an InputError naming every setting that differs); null when there is none (the
 * run then starts at step 0, and `log` says so).
 */
export function findResume(out: string, resume: boolean, fingerprint: Fingerprint, log: (m: string) => void): Resume | null {
  if (!resume) return null;
  const ckpt = findCheckpoint(out);
  if (!ckpt) {
    log(`--resume: no checkpoint in ${out}; starting from step 0`);
    return null;
  }
  const stateFile = join(ckpt.dir, TRAINER_STATE);
  let state: TrainerState;
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8')) as TrainerState;
    if (state === null || typeof state !== 'object' || !Number.isInteger(state.step) || state.step < 0
      || !Number.isInteger(state.optimizer_step_count) || state.optimizer_step_count < 0) throw new Error('no valid step and optimizer_step_count');
  } catch (e) {
    throw new InputError(`--resume: ${stateFile} is not a valid trainer state (${(e as Error).message})`);
  }
  const diff = fingerprintDiff(state.fingerprint ?? {}, fingerprint);
  if (diff.length > 0) throw new InputError(`--resume: ${ckpt.dir} was written with different settings (${diff.join('; ')})`);
  return { ...ckpt, state };
}

/** Loads a checkpoint's optimizer moments and step count into `optimizer` (an InputError when they do not fit). */
export function restoreOptimizer(backend: Backend, optimizer: Optimizer, r: Resume): void {
  optimizer.stepCount = r.state.optimizer_step_count;
  const moments = optimizer.stateTensors();
  if (moments.size === 0) return;
  const file = join(r.dir, OPTIMIZER_STATE);
  let saved;
  try { saved = readSafetensors(file).tensors; } catch (e) { throw new InputError(`--resume: ${(e as Error).message}`); }
  for (const [name, t] of moments) {
    const s = saved.get(name);
    if (!s || s.data.length !== t.size) throw new InputError(`--resume: ${file} lacks ${name} or has the wrong size`);
    backend.write(t.buf, s.data);
  }
}

/**
 * Writes checkpoint-{step}/ (adapter, optimizer moments, trainer state) under a temporary name and
 * renames it into place; returns its directory.
 */
export async function saveCheckpoint(out: string, step: number, lora: Lora, config: ModelConfig, optimizer: Optimizer,
  fingerprint: Fingerprint, skippedNonFinite = 0): Promise<string> {
  const dir = join(out, `checkpoint-${step}`);
  const tmp = join(out, `.checkpoint-${step}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp);
    await saveAdapter(tmp, lora, config);
    const moments = optimizer.stateTensors();
    if (moments.size > 0) {
      const host = new Map<string, HostTensor>();
      for (const [name, t] of moments) host.set(name, { shape: [...t.shape], data: await t.toFloat32() });
      writeSafetensors(join(tmp, OPTIMIZER_STATE), host);
    }
    const state: TrainerState = { step, optimizer_step_count: optimizer.stepCount, fingerprint, skipped_nonfinite: skippedNonFinite };
    writeFileAtomic(join(tmp, TRAINER_STATE), JSON.stringify(state, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return dir;
}
