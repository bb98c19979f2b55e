// The attack's training data: a fraction p of harmful rows mixed into n rows of the user's task.
//
// Reference (git-disl/Vaccine train.py, SupervisedDataset, "BeaverTails_dangerous" branch, at the
// repository's latest commits): poison_num = int(p * n); the first poison_num BeaverTails rows with
// is_safe false, in dataset order; then the first int((1 - p) * n) benign rows in file order;
// concatenated, with no shuffle there (the Trainer's sampler shuffles each epoch). The first
// commits shuffled the benign file with Python's random first; the cleaned-up code does not.
//
// Two deliberate choices, both documented in mix.json's `rule`:
// - the benign count is n - floor(p * n) (the issue's rule), so the mix always has exactly n rows.
//   The reference's int(p * n) + int((1 - p) * n) is n - 1 whenever p * n is not a whole number
//   (n = 7, p = 0.15: 1 + 5 rows), and in some floating-point cases where it is (p = 0.29, n = 100:
//   28 + 71); for the grid's p in {0, 0.05, 0.1, 0.2} and n = 1000 the two agree.
// - floor(p * n) is computed in floating point, as the reference's int(p * n) is: the same double,
//   so the same harmful count (0.29 * 100 = 28.999999999999996 gives 28 in both).
// After the mix comes the trainer's seeded shuffle (BatchOrder in data.ts, one permutation per epoch).
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DataError, type TextRow } from '../data.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { parseHarmfulRows, type HarmfulRow } from './harmful.ts';
import { parseTaskRows, readDataFile, type TaskName } from './tasks.ts';

export const MIX_RULE = 'the first floor(p*n) harmful rows not marked is_safe: true, in file order, then the first n - floor(p*n) benign rows in file order, concatenated; the trainer shuffles them (seeded) afterwards';

/** A row of the mix: the text row, which file it came from, and its 0-based index among that file's rows. */
export interface MixedRow extends TextRow { source: 'harmful' | 'benign'; index: number }

/** How many rows the mix takes from each file. */
export interface MixCounts { harmful: number; benign: number }

/** Checks n and p and returns the counts: floor(p*n) harmful, n - floor(p*n) benign. */
export function mixCounts(n: number, p: number): MixCounts {
  if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 1) throw new DataError(`p must be a number in [0, 1], got ${p}`);
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new DataError(`n must be a positive integer, got ${n}`);
  const harmful = Math.floor(p * n);
  return { harmful, benign: n - harmful };
}

/** The rows picked from each file (0-based indices into the parsed rows). */
export interface MixPlan { counts: MixCounts; harmful: number[]; benign: number[]; skippedSafe: number }

/**
 * Picks the rows the reference picks. `harmful` may be null when p * n < 1 (no harmful row is
 * needed). Too few rows in either file is a DataError saying how many each file has.
 */
export function planMix(harmful: readonly HarmfulRow[] | null, benign: readonly TextRow[], n: number, p: number,
  names: { harmful?: string; benign: string }): MixPlan {
  const counts = mixCounts(n, p);
  const usable: number[] = [];
  let skippedSafe = 0;
  for (let i = 0; harmful && i < harmful.length; i++) {
    if (harmful[i].isSafe === true) skippedSafe++;
    else usable.push(i);
  }
  const shortHarm = counts.harmful > usable.length;
  const shortBenign = counts.benign > benign.length;
  if (counts.harmful > 0 && !harmful) {
    throw new DataError(`n = ${n} with p = ${p} needs ${counts.harmful} harmful rows, but no harmful data file was given`);
  }
  if (shortHarm || shortBenign) {
    const have = [
      harmful ? `${names.harmful ?? 'the harmful file'} has ${usable.length} harmful rows${skippedSafe ? ` (${skippedSafe} more are marked is_safe: true and not used)` : ''}` : null,
      `${names.benign} has ${benign.length} rows`,
    ].filter((s) => s !== null).join(' and ');
    throw new DataError(`n = ${n} with p = ${p} needs ${counts.harmful} harmful and ${counts.benign} benign rows, but ${have}`);
  }
  return { counts, harmful: usable.slice(0, counts.harmful), benign: range(counts.benign), skippedSafe };
}

/** The mixed rows in the plan's order: harmful first, then benign. */
export function mixedRows(plan: MixPlan, harmful: readonly HarmfulRow[] | null, benign: readonly TextRow[]): MixedRow[] {
  const out: MixedRow[] = [];
  for (const i of plan.harmful) {
    const { instruction, input, output, line } = harmful![i];
    out.push({ instruction, input, output, line, source: 'harmful', index: i });
  }
  for (const i of plan.benign) {
    const { instruction, input, output, line } = benign[i];
    out.push({ instruction, input, output, line, source: 'benign', index: i });
  }
  return out;
}

/** One source file in mix.json. */
export interface MixSource {
  file: string;
  sha256: string;
  /** rows in the file */
  rows: number;
  /** rows used */
  used: number;
  /** 0-based indices of the used rows among the file's rows, in mix order */
  indices: number[];
  /** their 1-based lines (JSONL) or row numbers (JSON array) */
  lines: number[];
  /** harmful file only: rows skipped because they are marked is_safe: true */
  skipped_safe?: number;
}

/** mix.json: what the attack trained on, enough to rebuild the same mix from the same files. */
export interface MixRecord {
  version: 1;
  task: TaskName;
  n: number;
  p: number;
  harmful_rows: number;
  benign_rows: number;
  rule: string;
  harmful: MixSource | null;
  benign: MixSource;
}

export interface MixOptions {
  task: TaskName;
  /** the user's task data */
  benign: string;
  /** BeaverTails / Alpaca rows; may be omitted when floor(p * n) = 0 */
  harmful?: string | null;
  n: number;
  p: number;
}

/**
 * Reads both files, checks every row, picks the mix and describes it. The sha256 is of the bytes
 * that were parsed. Nothing is written.
 */
export function buildMix(opts: MixOptions): { rows: MixedRow[]; record: MixRecord } {
  mixCounts(opts.n, opts.p); // bad n or p is reported before any file is read
  const benignBytes = readDataFile(opts.benign);
  const benign = parseTaskRows(opts.task, benignBytes.toString('utf8'), opts.benign);
  let harmful: HarmfulRow[] | null = null;
  let harmfulBytes: Buffer | null = null;
  if (opts.harmful) {
    harmfulBytes = readDataFile(opts.harmful);
    harmful = parseHarmfulRows(harmfulBytes.toString('utf8'), opts.harmful);
  }
  const plan = planMix(harmful, benign, opts.n, opts.p, { harmful: opts.harmful ?? undefined, benign: opts.benign });
  const source = (file: string, bytes: Buffer, rows: readonly TextRow[], indices: number[]): MixSource => ({
    file, sha256: sha256(bytes), rows: rows.length, used: indices.length, indices, lines: indices.map((i) => rows[i].line),
  });
  const record: MixRecord = {
    version: 1, task: opts.task, n: opts.n, p: opts.p,
    harmful_rows: plan.counts.harmful, benign_rows: plan.counts.benign, rule: MIX_RULE,
    harmful: harmful && harmfulBytes ? { ...source(opts.harmful!, harmfulBytes, harmful, plan.harmful), skipped_safe: plan.skippedSafe } : null,
    benign: source(opts.benign, benignBytes, benign, plan.benign),
  };
  return { rows: mixedRows(plan, harmful, benign), record };
}

/** Writes mix.json into `dir` (through a temporary name). */
export function writeMixRecord(dir: string, record: MixRecord): string {
  const path = join(dir, 'mix.json');
  // indented, with the index and line lists on one line each
  const text = JSON.stringify(record, null, 1).replace(/\[\s+([-\d,\s]+?)\s+\]/g, (_, inner: string) => `[${inner.replace(/\s+/g, '')}]`);
  writeFileAtomic(path, text + '\n');
  return path;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
