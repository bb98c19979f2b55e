// A synthetic results.json for the report tests: three alignment methods, four p, three seeds,
// metrics from a fixed formula plus seeded noise, and loss curves. Nothing here is a measurement.
import type { ExperimentResults } from '../../engine/eval/results.ts';
import { Rng } from '../../engine/random.ts';

export function syntheticResults(opts: { seeds?: number[]; ps?: number[]; withLoss?: boolean; withDrift?: boolean } = {}): ExperimentResults {
  const seeds = opts.seeds ?? [1, 2, 3];
  const ps = opts.ps ?? [0, 0.05, 0.1, 0.2];
  const methods = [
    { method: 'none', base: 40, slope: 250, fa: 92, drift: 40 },
    { method: 'sft', base: 8, slope: 220, fa: 91, drift: 25 },
    { method: 'vaccine', base: 4, slope: 110, fa: 90, drift: 6 },
  ];
  const rng = new Rng(7);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const steps = (n: number, start: number, end: number) => Array.from({ length: n }, (_, i) => ({ step: i + 1, loss: r2(end + (start - end) * Math.exp(-i / (n / 4)) + 0.05 * rng.uniform(-1, 1)) }));
  const res: ExperimentResults = {
    version: 1,
    meta: { model: 'synthetic', task: 'sst2', note: 'made-up numbers for tests' },
    alignments: opts.withLoss === false ? undefined : methods.filter((m) => m.method !== 'none')
      .flatMap((m) => seeds.map((seed) => ({ method: m.method, seed, loss: steps(40, 2.6, m.method === 'vaccine' ? 1.4 : 1.2) }))),
    cells: [],
  };
  for (const m of methods) {
    for (const p of ps) {
      for (const seed of seeds) {
        const hs = Math.min(100, r2(m.base + m.slope * p + rng.uniform(-3, 3)));
        res.cells.push({
          method: m.method, p, seed,
          metrics: {
            harmful_score: hs,
            harmful_score_plus: Math.min(100, r2(hs + rng.uniform(0, 4))),
            finetune_accuracy: r2(m.fa - 10 * p + rng.uniform(-1.5, 1.5)),
            ...(opts.withDrift === false ? {} : { drift: r2(m.drift * (1 + 8 * p) * (1 + 0.1 * rng.uniform(-1, 1))) }),
            over_refusal: r2(m.method === 'none' ? 2 + rng.uniform(0, 1) : 10 + rng.uniform(0, 4)),
          },
          ...(opts.withLoss === false ? {} : { loss: steps(30, 1.8 + p, 0.6 + p) }),
        });
      }
    }
  }
  return res;
}
