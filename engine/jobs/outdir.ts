// The output directory of a training job. A run owns a few names in it: the adapter
// (adapter_model.safetensors, adapter_config.json), metrics.jsonl, checkpoint-N/ and the
// temporaries those are written under. A directory that holds them belongs to an earlier run:
// a new run refuses it unless told to continue it (--resume) or to replace it (--overwrite, which
// deletes those names, and only those, right before the new run writes its first file). Other
// files in the directory are never touched.
import { accessSync, constants, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../adapter.ts';
import { findCheckpoint } from './checkpoint.ts';
import { InputError } from './errors.ts';

export const METRICS_FILE = 'metrics.jsonl';
const RUN_NAME_RE = /^checkpoint-\d+$/;
// checkpoint temporaries (.checkpoint-N.tmp-PID) and writeFileAtomic's (.NAME.tmp-PID-TIME)
const RUN_TMP_RE = /^\.(checkpoint-\d+|adapter_model\.safetensors|adapter_config\.json|metrics\.jsonl)\.tmp-/;

/** The names in `out` that belong to a training run, sorted. */
export function runArtefacts(out: string): string[] {
  if (!existsSync(out) || !statSync(out).isDirectory()) return [];
  return readdirSync(out).filter((n) => n === ADAPTER_WEIGHTS || n === ADAPTER_CONFIG || n === METRICS_FILE
    || RUN_NAME_RE.test(n) || RUN_TMP_RE.test(n)).sort();
}

function listed(names: string[]): string {
  return names.length <= 4 ? names.join(', ') : `${names.slice(0, 4).join(', ')} and ${names.length - 4} more`;
}

/**
 * Checks `out` before anything is loaded or written; an InputError when it is a file, cannot be
 * created or written, or holds another run and neither `resume` (with a checkpoint to continue
 * from) nor `overwrite` is given.
 */
export function checkOut(out: string, o: { resume: boolean; overwrite: boolean }): void {
  if (o.resume && o.overwrite) throw new InputError('--resume and --overwrite contradict each other: --resume continues the run in --out, --overwrite replaces it');
  let existing = resolve(out);
  while (!existsSync(existing)) existing = dirname(existing);
  if (!statSync(existing).isDirectory()) {
    throw new InputError(existing === resolve(out) ? `--out ${out} is a file, not a directory` : `--out ${out}: ${existing} is a file, not a directory`);
  }
  try { accessSync(existing, constants.W_OK); } catch {
    throw new InputError(`--out ${out}: cannot write into ${existing} (permission denied)`);
  }
  const artefacts = runArtefacts(out);
  if (artefacts.length === 0 || o.overwrite) return;
  if (o.resume) {
    if (!findCheckpoint(out)) {
      throw new InputError(`--resume: ${out} holds a run (${listed(artefacts)}) but no checkpoint to continue from; --overwrite starts it again`);
    }
    return;
  }
  throw new InputError(`--out ${out} already holds a run (${listed(artefacts)}): --resume continues it, --overwrite replaces it`);
}

/** Deletes the names of an earlier run from `out` (--overwrite); returns what it deleted. */
export function clearRun(out: string): string[] {
  const names = runArtefacts(out);
  for (const n of names) rmSync(join(out, n), { recursive: true, force: true });
  return names;
}

/** Deletes the temporaries an earlier process left in `out` when it was killed while writing. */
export function clearTemporaries(out: string): void {
  if (!existsSync(out)) return;
  for (const n of readdirSync(out)) if (RUN_TMP_RE.test(n)) rmSync(join(out, n), { recursive: true, force: true });
}
