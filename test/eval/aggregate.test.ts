// The grid's aggregation (mean and sample sd over seeds per method and p) and results.json's checks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aggregateBefore, aggregateCells, meanSd } from '../../engine/eval/aggregate.ts';
import { validateResults } from '../../engine/eval/results.ts';
import { DataError } from '../../engine/data.ts';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('mean and sample sd (n - 1), by hand', () => {
  const s = meanSd([2, 4, 9]);
  close(s.mean, 5, 'mean');
  close(s.sd!, Math.sqrt(13), 'sd'); // ((3^2 + 1^2 + 4^2) / 2) = 13
  assert.equal(meanSd([7]), { mean: 7, sd: null, n: 1 });
  assert.throws(() => meanSd([]), /no values/);
});

test('cells grouped by (method, p) over seeds; methods in first-appearance order, p ascending; missing metrics skipped', () => {
  const cells = [
    { method: 'vaccine', p: 0.1, seed: 2, metrics: { harmful_score: 10, finetune_accuracy: 90 } },
    { method: 'sft', p: 0.1, seed: 1, metrics: { harmful_score: 30, finetune_accuracy: 91, over_refusal: 5 } },
    { method: 'vaccine', p: 0, seed: 1, metrics: { harmful_score: 2 } },
    { method: 'vaccine', p: 0.1, seed: 1, metrics: { harmful_score: 14, finetune_accuracy: 88, drift: 3 } },
    { method: 'sft', p: 0.1, seed: 2, metrics: { harmful_score: 34, finetune_accuracy: 93, over_refusal: 7 } },
  ];
  const g = aggregateCells(cells);
  assert.equal(g.map((x) => [x.method, x.p, x.seeds]), [['vaccine', 0, [1]], ['vaccine', 0.1, [1, 2]], ['sft', 0.1, [1, 2]]]);
  close(g[1].stats.harmful_score!.mean, 12, 'vaccine HS');
  close(g[1].stats.harmful_score!.sd!, Math.sqrt(8), 'vaccine HS sd'); // (4 + 4) / 1
  assert.equal(g[1].stats.drift, { mean: 3, sd: null, n: 1 }); // one of the two cells measured drift
  assert.is(g[1].stats.over_refusal, undefined);
  close(g[2].stats.over_refusal!.mean, 6, 'sft over-refusal');
  assert.equal(g[0].stats.harmful_score, { mean: 2, sd: null, n: 1 });
});

test('validateResults: accepts the documented shape, names the first bad place', () => {
  const ok = validateResults({
    version: 1, meta: { model: 'm', wall_seconds: 3 },
    alignments: [{ method: 'sft', seed: 1, loss: [{ step: 1, loss: 2 }] }],
    cells: [{ method: 'sft', p: 0.1, seed: 1, metrics: { harmful_score: 1, drift: null }, loss: [{ step: 1, loss: 1.5 }] }],
  });
  assert.equal(ok.cells[0].metrics, { harmful_score: 1 });
  const bad = (x: unknown, re: RegExp) => assert.throws(() => validateResults(x, 'r.json'), (e: Error) => e instanceof DataError && re.test(e.message));
  bad({ version: 2, cells: [] }, /^r\.json: version: expected 1/);
  bad({ version: 1 }, /cells: expected an array/);
  bad({ version: 1, cells: [{ method: 'sft', p: 1.5, seed: 1, metrics: {} }] }, /cells\[0\]\.p: expected a number in \[0, 1\]/);
  bad({ version: 1, cells: [{ method: 'sft', p: 0.1, seed: 1, metrics: { hs: 3 } }] }, /cells\[0\]\.metrics\.hs: unknown metric/);
  bad({ version: 1, cells: [{ method: 'sft', p: 0.1, seed: 1, metrics: { harmful_score: '3' } }] }, /cells\[0\]\.metrics\.harmful_score: expected a finite number/);
  bad({ version: 1, cells: [{ method: 'a', p: 0, seed: 1, metrics: {} }, { method: 'a', p: 0, seed: 1, metrics: {} }] }, /cells\[1\]: method a, p 0, seed 1 appears twice/);
  bad({ version: 1, cells: [], alignments: [{ method: 'sft', seed: 1, loss: [{ step: 1 }] }] }, /alignments\[0\]\.loss\[0\]\.loss: expected a finite number/);
});

test('before_attack: optional (a results.json without it stays valid), validated like the cells, grouped per method over seeds', () => {
  assert.is(validateResults({ version: 1, cells: [] }).before_attack, undefined);
  const ok = validateResults({
    version: 1, cells: [],
    before_attack: [
      { method: 'sft', seed: 1, metrics: { harmful_score: 0, over_refusal: 100, drift: null } },
      { method: 'none', seed: 1, metrics: { harmful_score: 80, finetune_accuracy: 10 } },
      { method: 'sft', seed: 2, metrics: { harmful_score: 6, over_refusal: 90 } },
    ],
  });
  assert.equal(ok.before_attack![0], { method: 'sft', seed: 1, metrics: { harmful_score: 0, over_refusal: 100 } });
  const g = aggregateBefore(ok.before_attack!);
  assert.equal(g.map((x) => `${x.method}:${x.seeds.join(',')}`), ['sft:1,2', 'none:1']);
  close(g[0].stats.harmful_score!.mean, 3, 'sft HS mean');
  close(g[0].stats.harmful_score!.sd!, Math.sqrt(18), 'sft HS sd'); // (9 + 9) / 1
  close(g[0].stats.over_refusal!.mean, 95, 'sft over-refusal mean');
  assert.is(g[0].stats.finetune_accuracy, undefined);
  assert.equal(g[1].stats.finetune_accuracy, { mean: 10, sd: null, n: 1 });
  const bad = (x: unknown, re: RegExp) => assert.throws(() => validateResults(x, 'r.json'), (e: Error) => e instanceof DataError && re.test(e.message));
  bad({ version: 1, cells: [], before_attack: {} }, /^r\.json: before_attack: expected an array/);
  bad({ version: 1, cells: [], before_attack: [{ method: 'sft', seed: 1, metrics: { hs: 1 } }] }, /before_attack\[0\]\.metrics\.hs: unknown metric/);
  bad({ version: 1, cells: [], before_attack: [{ method: '', seed: 1, metrics: {} }] }, /before_attack\[0\]\.method: expected a non-empty string/);
  bad({ version: 1, cells: [], before_attack: [{ method: 'a', seed: 1 }, { method: 'a', seed: 1 }] }, /before_attack\[1\]: method a, seed 1 appears twice/);
});

test.run();
