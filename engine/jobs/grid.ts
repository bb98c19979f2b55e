// The experiment grid's plan and records: which alignments and cells a grid has, in which order,
// where each keeps its outputs, what it was run with (its settings fingerprint), whether a
// previous run finished it, and the grid's ETA from measured times. No training happens here
// (engine/jobs/experiment.ts runs the plan).
//
// Layout of --out:
//   align/<method>-seed<s>/        the alignment adapter, metrics.jsonl, record.json
//   before/<method>-seed<s>/       the aligned model evaluated before any attack: eval.json (HS,
//                                  HS+, FA), harmless.json (over-refusal), record.json
//   cells/<method>-p<p>-seed<s>/   attack/ (the fine-tune's adapter, metrics.jsonl, mix.json),
//                                  eval.json (HS, HS+, FA, drift), harmless.json (over-refusal),
//                                  cell.json (the record)
//   results.json, report.html
//
// A record is written when its unit starts (its fingerprint) and again when it ends (done, with
// its metrics and seconds), each time whole (write to a temporary name, then rename). A re-run
// skips a unit whose record says done with the same fingerprint, continues one that was started
// with the same fingerprint (from the trainer's checkpoint when there is one), and refuses one
// recorded with other settings unless told to redo it (--overwrite).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import type { Metrics } from '../eval/results.ts';
import type { GridMethod } from './experiment-options.ts';

export type AlignMethodOf<M> = Exclude<M, 'none'>;

export interface AlignUnit {
  kind: 'align'; method: AlignMethodOf<GridMethod>; seed: number;
  /** e.g. align/vaccine-seed1 */
  id: string; dir: string;
}
export interface CellUnit {
  kind: 'cell'; method: GridMethod; p: number; seed: number;
  id: string; dir: string;
  /** the alignment the cell attacks (null for method none) */
  align: AlignUnit | null;
}
/** The aligned model (for method none: the bare model) evaluated before any attack. */
export interface BeforeUnit {
  kind: 'before'; method: GridMethod; seed: number;
  /** e.g. before/vaccine-seed1 */
  id: string; dir: string;
  align: AlignUnit | null;
}
export type Unit = AlignUnit | BeforeUnit | CellUnit;
/** The units that evaluate a model: they have metrics. */
export type EvalUnit = BeforeUnit | CellUnit;

export const RECORD_FILE = { align: 'record.json', before: 'record.json', cell: 'cell.json' } as const;

/** A unit's name in progress lines: "align vaccine seed 1", "vaccine before attack seed 1" or "vaccine p=0.1 seed 1". */
export function unitName(u: Unit): string {
  if (u.kind === 'align') return `align ${u.method} seed ${u.seed}`;
  return u.kind === 'before' ? `${u.method} before attack seed ${u.seed}` : `${u.method} p=${u.p} seed ${u.seed}`;
}

/**
 * The grid's units in the order they run: per seed, per method, its alignment, the aligned model's
 * evaluation before any attack, and then its cells (p ascending), so that every unit using one
 * alignment adapter runs right after it. Method none has no alignment; its "before" unit evaluates
 * the bare model (the same for every seed: decoding is greedy).
 */
export function planGrid(out: string, methods: readonly GridMethod[], ps: readonly number[], seeds: readonly number[]): Unit[] {
  const units: Unit[] = [];
  for (const seed of seeds) {
    for (const method of methods) {
      let align: AlignUnit | null = null;
      if (method !== 'none') {
        const id = `align/${method}-seed${seed}`;
        align = { kind: 'align', method, seed, id, dir: join(out, id) };
        units.push(align);
      }
      const before = `before/${method}-seed${seed}`;
      units.push({ kind: 'before', method, seed, id: before, dir: join(out, before), align });
      for (const p of ps) {
        const id = `cells/${method}-p${p}-seed${seed}`;
        units.push({ kind: 'cell', method, p, seed, id, dir: join(out, id), align });
      }
    }
  }
  return units;
}

/** A unit's settings: flat, so that a difference can be named. */
export type UnitFingerprint = Record<string, string | number | boolean | null>;

export interface UnitRecord {
  kind: Unit['kind'];
  method: string; seed: number; p?: number;
  fingerprint: UnitFingerprint;
  /** started: the unit's jobs may have written part of their outputs; attacked: the cell's fine-tune is done; done: all of it */
  stage: 'started' | 'attacked' | 'done';
  /** wall seconds of the unit's parts (summed over the runs that worked on it) */
  seconds?: { align?: number; attack?: number; eval?: number; total?: number };
  /** a cell's or a before unit's metrics (when done) */
  metrics?: Metrics;
  backend?: string;
}

export function recordPath(u: Unit): string {
  return join(u.dir, RECORD_FILE[u.kind]);
}

export function readRecord(u: Unit): UnitRecord | null {
  const path = recordPath(u);
  if (!existsSync(path)) return null;
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as UnitRecord;
    if (!r || typeof r !== 'object' || typeof r.fingerprint !== 'object' || !['started', 'attacked', 'done'].includes(r.stage)) return null;
    return r;
  } catch {
    return null;
  }
}

export function writeRecord(u: Unit, r: UnitRecord): void {
  writeFileAtomic(recordPath(u), JSON.stringify(r, null, 1) + '\n');
}

/** The first setting that differs, as "lr: 0.001 there, 0.0001 now" (null when none). */
export function fingerprintDiff(there: UnitFingerprint, now: UnitFingerprint): string | null {
  const keys = [...new Set([...Object.keys(now), ...Object.keys(there)])];
  for (const k of keys) {
    const a = there[k] ?? null, b = now[k] ?? null;
    if (a !== b) {
      const show = (v: unknown) => (typeof v === 'string' && v.length > 16 && /^[0-9a-f]+$/.test(v) ? `${v.slice(0, 12)}…` : JSON.stringify(v));
      return `${k}: ${show(a)} there, ${show(b)} now`;
    }
  }
  return null;
}

export type UnitStatus =
  | { state: 'new' }
  | { state: 'done'; record: UnitRecord }
  /** started with these settings and not finished: continue it */
  | { state: 'partial'; record: UnitRecord }
  /** recorded with other settings, or a folder that holds files but no record */
  | { state: 'conflict'; why: string };

/**
 * What a previous run left of a unit. A folder that holds nothing but temporaries of its record
 * (a run killed between creating the folder and renaming the record's first write into place) is
 * new: the runner clears it.
 */
export function unitStatus(u: Unit, fp: UnitFingerprint): UnitStatus {
  const rec = readRecord(u);
  if (!rec) {
    const tmp = `.${RECORD_FILE[u.kind]}.tmp-`;
    if (!existsSync(u.dir) || readdirSync(u.dir).every((f) => f.startsWith(tmp))) return { state: 'new' };
    return { state: 'conflict', why: `${u.dir} holds files but no readable ${RECORD_FILE[u.kind]}` };
  }
  const diff = fingerprintDiff(rec.fingerprint, fp);
  if (diff) return { state: 'conflict', why: `${unitName(u)} in ${u.dir} was run with other settings (${diff})` };
  return rec.stage === 'done' ? { state: 'done', record: rec } : { state: 'partial', record: rec };
}

/**
 * The grid's ETA from measured times: an alignment of a method takes what that method's
 * alignments took (else the mean of all alignments), a cell the mean of the cells, a before
 * unit the mean of the before units (else, having no attack, the mean of the cells: an upper
 * bound). Null until there is something to go by for every kind of unit left.
 */
export class GridClock {
  private readonly align = new Map<string, number[]>();
  private readonly cells: number[] = [];
  private readonly before: number[] = [];

  add(u: Unit, seconds: number): void {
    if (u.kind === 'cell') this.cells.push(seconds);
    else if (u.kind === 'before') this.before.push(seconds);
    else this.align.set(u.method, [...(this.align.get(u.method) ?? []), seconds]);
  }

  /** Seconds left for `left` (null when a kind of unit in it has no measured time yet). */
  eta(left: readonly Unit[]): number | null {
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const allAlign = [...this.align.values()].flat();
    let s = 0;
    for (const u of left) {
      if (u.kind === 'cell') {
        if (this.cells.length === 0) return null;
        s += mean(this.cells);
      } else if (u.kind === 'before') {
        if (this.before.length) s += mean(this.before);
        else if (this.cells.length) s += mean(this.cells);
        else return null;
      } else {
        const own = this.align.get(u.method);
        if (own?.length) s += mean(own);
        else if (allAlign.length) s += mean(allAlign);
        else return null;
      }
    }
    return s;
  }
}
