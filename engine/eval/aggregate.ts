// The grid's tables: each metric's mean and sample standard deviation over seeds, per (method, p)
// for the attacked models and per method for the models before the attack.
import { METRIC_KEYS, type BeforeAttackResult, type CellResult, type Metrics, type MetricKey } from './results.ts';

/** Mean and sample standard deviation (n - 1 in the denominator); sd is null for a single value. */
export interface Stat { mean: number; sd: number | null; n: number }

export function meanSd(values: readonly number[]): Stat {
  const n = values.length;
  if (n === 0) throw new Error('meanSd of no values');
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  if (n === 1) return { mean, sd: null, n };
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  return { mean, sd: Math.sqrt(ss / (n - 1)), n };
}

/** One row of the table: a method at one p, over its seeds. */
export interface GroupSummary {
  method: string;
  p: number;
  /** the seeds of the group's cells, ascending */
  seeds: number[];
  /** each metric measured in at least one of the group's cells, over the cells that measured it */
  stats: Partial<Record<MetricKey, Stat>>;
}

/**
 * Groups cells by (method, p): methods in the order they first appear, p ascending within a
 * method. A metric missing from some cells is averaged over the cells that have it (its n says how
 * many).
 */
export function aggregateCells(cells: readonly Pick<CellResult, 'method' | 'p' | 'seed' | 'metrics'>[]): GroupSummary[] {
  const methods: string[] = [];
  const groups = new Map<string, typeof cells[number][]>();
  for (const c of cells) {
    if (!methods.includes(c.method)) methods.push(c.method);
    const key = JSON.stringify([c.method, c.p]);
    const g = groups.get(key);
    if (g) g.push(c); else groups.set(key, [c]);
  }
  const out: GroupSummary[] = [];
  for (const method of methods) {
    const ps = [...new Set(cells.filter((c) => c.method === method).map((c) => c.p))].sort((a, b) => a - b);
    for (const p of ps) {
      const g = groups.get(JSON.stringify([method, p]))!;
      out.push({ method, p, seeds: g.map((c) => c.seed).sort((a, b) => a - b), stats: metricStats(g) });
    }
  }
  return out;
}

/** Each metric measured in at least one of `rows`, over the rows that measured it. */
function metricStats(rows: readonly { metrics: Metrics }[]): GroupSummary['stats'] {
  const stats: GroupSummary['stats'] = {};
  for (const k of METRIC_KEYS) {
    const vals = rows.map((c) => c.metrics[k]).filter((v): v is number => typeof v === 'number');
    if (vals.length > 0) stats[k] = meanSd(vals);
  }
  return stats;
}

/** One row of the before-the-attack table: a method over its seeds. */
export type BeforeSummary = Omit<GroupSummary, 'p'>;

/** Groups the models evaluated before the attack by method, in the order methods first appear. */
export function aggregateBefore(rows: readonly BeforeAttackResult[]): BeforeSummary[] {
  const methods = [...new Set(rows.map((r) => r.method))];
  return methods.map((method) => {
    const g = rows.filter((r) => r.method === method);
    return { method, seeds: g.map((r) => r.seed).sort((a, b) => a - b), stats: metricStats(g) };
  });
}
