// results.json: what the experiment grid measured, the one input of the report.
//
// {
//   "version": 1,
//   "meta": { "model": "...", "task": "sst2", "created": "2025-...", "wall_seconds": 1234, ... },   (free-form, shown in the report)
//   "alignments": [                       the alignment runs, one per (method, seed); method "none" has none
//     { "method": "vaccine", "seed": 1, "loss": [{ "step": 1, "loss": 2.31 }, ...] }
//   ],
//   "before_attack": [                    optional: each aligned model (method none: the bare model)
//     { "method": "vaccine", "seed": 1,     evaluated before any attack, one per (method, seed)
//       "metrics": { "harmful_score": 0, "harmful_score_plus": 0, "finetune_accuracy": 0, "over_refusal": 100 } }
//   ],                                    (the cells' metric keys; no drift: it is 0 by definition there)
//   "cells": [                            one per (method, p, seed): an attacked model and its evaluation
//     { "method": "vaccine", "p": 0.1, "seed": 1,
//       "metrics": { "harmful_score": 12.5, "harmful_score_plus": 14, "finetune_accuracy": 91.2,
//                    "drift": 3.1, "over_refusal": 4.2 },                     (any subset; percent except drift)
//       "loss": [{ "step": 1, "loss": 1.9 }, ...] }                           (the attack's fine-tune loss, optional)
//   ]
// }
// The metric keys are evaluate's summary keys (plus over_refusal), so a cell's metrics can be the
// summary of `evaluate --out` as it is.
import { DataError } from '../data.ts';

export const METRIC_KEYS = ['harmful_score', 'harmful_score_plus', 'finetune_accuracy', 'drift', 'over_refusal'] as const;
export type MetricKey = typeof METRIC_KEYS[number];
export type Metrics = Partial<Record<MetricKey, number>>;

export interface LossPoint { step: number; loss: number }

export interface CellResult {
  method: string;
  p: number;
  seed: number;
  metrics: Metrics;
  /** the attack's (fine-tune's) training loss per step */
  loss?: LossPoint[];
}

export interface AlignmentRun { method: string; seed: number; loss: LossPoint[] }

/** An aligned model (method none: the bare model) evaluated before any attack. */
export interface BeforeAttackResult { method: string; seed: number; metrics: Metrics }

export interface ExperimentResults {
  version: 1;
  meta?: Record<string, string | number | boolean | null>;
  alignments?: AlignmentRun[];
  before_attack?: BeforeAttackResult[];
  cells: CellResult[];
}

/**
 * Checks the shape of a parsed results.json and returns it typed; a DataError names the first
 * offending place (e.g. "cells[3].metrics.harmful_score"). Unknown metric keys are an error (a
 * typo would otherwise vanish from the report); a (method, p, seed) given twice is an error, and
 * so is a (method, seed) given twice in before_attack.
 */
export function validateResults(x: unknown, file = 'results.json'): ExperimentResults {
  const fail = (where: string, what: string): never => { throw new DataError(`${file}: ${where}: ${what}`); };
  const obj = (v: unknown, where: string): Record<string, unknown> => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(where, 'expected an object');
    return v as Record<string, unknown>;
  };
  const num = (v: unknown, where: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(where, `expected a finite number, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const str = (v: unknown, where: string): string => {
    if (typeof v !== 'string' || v.length === 0) fail(where, `expected a non-empty string, got ${JSON.stringify(v)}`);
    return v as string;
  };
  const losses = (v: unknown, where: string): LossPoint[] => {
    if (!Array.isArray(v)) fail(where, 'expected an array of {step, loss}');
    return (v as unknown[]).map((pt, i) => {
      const o = obj(pt, `${where}[${i}]`);
      return { step: num(o.step, `${where}[${i}].step`), loss: num(o.loss, `${where}[${i}].loss`) };
    });
  };
  const metricsOf = (v: unknown, where: string): Metrics => {
    const m = obj(v ?? {}, where);
    const metrics: Metrics = {};
    for (const [k, val] of Object.entries(m)) {
      if (!(METRIC_KEYS as readonly string[]).includes(k)) fail(`${where}.${k}`, `unknown metric (known: ${METRIC_KEYS.join(', ')})`);
      if (val === null || val === undefined) continue; // not measured
      metrics[k as MetricKey] = num(val, `${where}.${k}`);
    }
    return metrics;
  };
  const root = obj(x, '(top level)');
  if (root.version !== 1) fail('version', `expected 1, got ${JSON.stringify(root.version)}`);
  if (!Array.isArray(root.cells)) fail('cells', 'expected an array');
  const seen = new Set<string>();
  const cells = (root.cells as unknown[]).map((c, i): CellResult => {
    const w = `cells[${i}]`;
    const o = obj(c, w);
    const method = str(o.method, `${w}.method`);
    const p = num(o.p, `${w}.p`);
    if (p < 0 || p > 1) fail(`${w}.p`, `expected a number in [0, 1], got ${p}`);
    const seed = num(o.seed, `${w}.seed`);
    const key = JSON.stringify([method, p, seed]);
    if (seen.has(key)) fail(w, `method ${method}, p ${p}, seed ${seed} appears twice`);
    seen.add(key);
    const cell: CellResult = { method, p, seed, metrics: metricsOf(o.metrics, `${w}.metrics`) };
    if (o.loss !== undefined) cell.loss = losses(o.loss, `${w}.loss`);
    return cell;
  });
  let alignments: AlignmentRun[] | undefined;
  if (root.alignments !== undefined) {
    if (!Array.isArray(root.alignments)) fail('alignments', 'expected an array');
    alignments = (root.alignments as unknown[]).map((a, i) => {
      const o = obj(a, `alignments[${i}]`);
      return { method: str(o.method, `alignments[${i}].method`), seed: num(o.seed, `alignments[${i}].seed`), loss: losses(o.loss, `alignments[${i}].loss`) };
    });
  }
  let before: BeforeAttackResult[] | undefined;
  if (root.before_attack !== undefined) {
    if (!Array.isArray(root.before_attack)) fail('before_attack', 'expected an array');
    const seenBefore = new Set<string>();
    before = (root.before_attack as unknown[]).map((b, i) => {
      const w = `before_attack[${i}]`;
      const o = obj(b, w);
      const method = str(o.method, `${w}.method`), seed = num(o.seed, `${w}.seed`);
      const key = JSON.stringify([method, seed]);
      if (seenBefore.has(key)) fail(w, `method ${method}, seed ${seed} appears twice`);
      seenBefore.add(key);
      return { method, seed, metrics: metricsOf(o.metrics, `${w}.metrics`) };
    });
  }
  let meta: ExperimentResults['meta'];
  if (root.meta !== undefined) {
    meta = {};
    for (const [k, v] of Object.entries(obj(root.meta, 'meta'))) {
      if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) fail(`meta.${k}`, 'expected a string, number, boolean or null');
      meta[k] = v as string | number | boolean | null;
    }
  }
  return { version: 1, ...(meta ? { meta } : {}), ...(alignments ? { alignments } : {}), ...(before ? { before_attack: before } : {}), cells };
}
