// report.html from a synthetic results object: one SVG per chart, the table's numbers are the
// input's means and sds, the page loads nothing from outside, and Vega-Lite raised no warning.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reportCharts } from '../../engine/eval/report/charts.ts';
import { formatStat, renderReport } from '../../engine/eval/report/html.ts';
import { syntheticResults } from './synthetic.ts';

/** The table cells of the HTML: data attributes and shown text. */
function tableCells(html: string) {
  const re = /<td data-method="([^"]*)" data-p="([^"]*)" data-metric="([^"]*)" data-mean="([^"]*)" data-sd="([^"]*)" data-n="([^"]*)">([^<]*)<\/td>/g;
  return [...html.matchAll(re)].map((m) => ({ method: m[1], p: Number(m[2]), metric: m[3], mean: Number(m[4]), sd: m[5] === '' ? null : Number(m[5]), n: Number(m[6]), text: m[7] }));
}

test('one SVG per chart; the table holds every (method, p, metric) mean and sd of the input', async () => {
  const results = syntheticResults();
  const warnings: string[] = [];
  const html = await renderReport(results, { warnings });
  assert.equal(warnings, []);
  const charts = reportCharts(results);
  assert.equal(charts.map((c) => c.id), ['chart-harmful-score', 'chart-finetune-accuracy', 'chart-drift', 'chart-loss-align', 'chart-loss-attack']);
  assert.is((html.match(/<svg[\s>]/g) ?? []).length, charts.length);
  for (const c of charts) assert.match(html, new RegExp(`<figure id="${c.id}" data-chart="${c.id}">\\n<svg`));
  // self-contained: no script, no external reference
  assert.not.match(html, /<script|<link|src=|url\(|@import/i);
  // every number: recomputed here from the cells
  const cells = tableCells(html);
  assert.is(cells.length, 3 * 4 * 5); // methods x p x metrics
  for (const td of cells) {
    const vals = results.cells.filter((c) => c.method === td.method && c.p === td.p).map((c) => c.metrics[td.metric as 'drift']!);
    assert.is(vals.length, 3);
    const mean = vals.reduce((s, v) => s + v, 0) / 3;
    const sd = Math.sqrt(vals.reduce((s, v) => s + (v - mean) ** 2, 0) / 2);
    assert.ok(Math.abs(td.mean - mean) <= 1e-12 * Math.max(1, mean), `${td.method} ${td.p} ${td.metric} mean`);
    assert.ok(Math.abs(td.sd! - sd) <= 1e-12 * Math.max(1, sd), `${td.method} ${td.p} ${td.metric} sd`);
    assert.is(td.n, 3);
    const [shownMean, shownSd] = td.text.split(' ± ').map(Number);
    assert.ok(Math.abs(shownMean - mean) <= (td.metric === 'drift' ? 5e-4 * mean : 0.005 + 1e-9), `${td.text} vs ${mean}`);
    assert.ok(Math.abs(shownSd - sd) <= (td.metric === 'drift' ? 5e-4 * sd : 0.005 + 1e-9), `${td.text} vs ${sd}`);
  }
  // the points carry their values: one labelled point per (method, p) in each metric chart
  for (const metric of ['harmful_score', 'finetune_accuracy', 'drift']) {
    assert.is((html.match(new RegExp(`aria-label="[a-z]+ \\| p=[0-9.]+ \\| ${metric}=`, 'g')) ?? []).length, 12, metric);
  }
  // loss curves: one line per run
  assert.is((html.match(/aria-label="align [a-z]+ seed \d"/g) ?? []).length, 6);
  assert.is((html.match(/aria-label="attack [a-z]+ p=[0-9.]+ seed \d"/g) ?? []).length, 36);
});

test('one seed: no ± and no error bars; no drift or loss: those charts are left out and the page says so', async () => {
  const results = syntheticResults({ seeds: [5], withLoss: false, withDrift: false });
  const warnings: string[] = [];
  const html = await renderReport(results, { warnings });
  assert.equal(warnings, []);
  const charts = reportCharts(results);
  assert.equal(charts.map((c) => c.id), ['chart-harmful-score', 'chart-finetune-accuracy']);
  assert.is((html.match(/<svg[\s>]/g) ?? []).length, 2);
  assert.match(html, /Not shown: no drift was measured; no alignment loss curves were recorded; no attack loss curves were recorded\./);
  const cells = tableCells(html);
  assert.ok(cells.length > 0 && cells.every((c) => c.sd === null && !c.text.includes('±')));
  assert.not.match(html, /aria-label="error bar"/);
});

test('before the attack: its own table (per method, mean ± sd over seeds, no p column) where results.json has it; none otherwise', async () => {
  const results = syntheticResults({ seeds: [1, 2] });
  assert.not.match(await renderReport(results), /before-table/);
  results.before_attack = [
    { method: 'none', seed: 1, metrics: { harmful_score: 80, harmful_score_plus: 82, finetune_accuracy: 0, over_refusal: 20 } },
    { method: 'none', seed: 2, metrics: { harmful_score: 80, harmful_score_plus: 82, finetune_accuracy: 0, over_refusal: 20 } },
    { method: 'sft', seed: 1, metrics: { harmful_score: 0, harmful_score_plus: 1, finetune_accuracy: 2, over_refusal: 100 } },
    { method: 'sft', seed: 2, metrics: { harmful_score: 10, harmful_score_plus: 11, finetune_accuracy: 4, over_refusal: 90 } },
  ];
  const warnings: string[] = [];
  const html = await renderReport(results, { warnings });
  assert.equal(warnings, []);
  const table = html.match(/<table id="before-table">[\s\S]*?<\/table>/)![0];
  assert.match(table, /<tr><th>alignment<\/th><th>seeds<\/th><th>HS \(%\)<\/th><th>HS\+ \(%\)<\/th><th>FA \(%\)<\/th><th>over-refusal \(%\)<\/th><\/tr>/);
  const tds = [...table.matchAll(/<td data-method="([^"]*)" data-metric="([^"]*)" data-mean="([^"]*)" data-sd="([^"]*)" data-n="([^"]*)">([^<]*)<\/td>/g)]
    .map((m) => ({ method: m[1], metric: m[2], mean: Number(m[3]), sd: m[4], n: Number(m[5]), text: m[6] }));
  assert.is(tds.length, 2 * 4);
  const sft = (metric: string) => tds.find((t) => t.method === 'sft' && t.metric === metric)!;
  assert.is(sft('harmful_score').text, '5.00 ± 7.07');
  assert.is(sft('over_refusal').mean, 95);
  assert.is(tds.find((t) => t.method === 'none' && t.metric === 'finetune_accuracy')!.text, '0.00 ± 0.00');
  // the attacked models' table is unchanged by it
  assert.is(tableCells(html).length, 3 * 4 * 5);
});

test('formatting: percents to 2 decimals, drift to 4 significant digits; names are escaped', async () => {
  assert.is(formatStat('harmful_score', { mean: 12.345, sd: 1.2, n: 2 }), '12.35 ± 1.20');
  assert.is(formatStat('drift', { mean: 1234.56, sd: 0.012345, n: 2 }), '1235 ± 0.01235');
  assert.is(formatStat('drift', { mean: 1.5e-7, sd: null, n: 1 }), '1.500e-7');
  const results = syntheticResults({ seeds: [1], ps: [0.1], withLoss: false });
  results.cells[0].method = '<b>&x</b>';
  const html = await renderReport(results, { title: 'a <title>' });
  assert.match(html, /<td class="method">&lt;b&gt;&amp;x&lt;\/b&gt;<\/td>/);
  assert.match(html, /<h1>a &lt;title&gt;<\/h1>/);
  assert.not.match(html, /<b>&x<\/b>/);
});

test.run();
