// The report opened in headless Chromium: the check (report_check.ts) passes on a rendered
// synthetic report and finds each kind of fault put into a copy of it. Needs Debian's chromium:
// not registered, with a note, where it is missing (under CI=true a missing chromium is a failure).
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderReport } from '../../engine/eval/report/html.ts';
import { CHROMIUM, checkReport, chromiumAvailable } from './report_check.ts';
import { syntheticResults } from './synthetic.ts';

if (!chromiumAvailable() && process.env.CI !== 'true') {
  console.log(`(eval/report_browser: no ${CHROMIUM}: the report is not checked in a browser here)`);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'report-browser-'));
  const results = syntheticResults();
  let html = '';

  test.before(async () => { html = await renderReport(results); });

  test('the rendered report passes the check: charts visible, points and loss curves where results.json puts them, table numbers', async () => {
    const page = join(dir, 'report.html');
    writeFileSync(page, html);
    const shot = join(dir, 'report.png');
    const check = await checkReport(page, results, { screenshot: shot });
    assert.equal(check.problems, []);
    assert.equal([check.checked.charts, check.checked.points, check.checked.tableCells], [5, 36, 60]);
    assert.is(check.checked.lossVertices, 6 * 40 + 36 * 30);
    assert.ok(check.checked.worstPixelError < 0.5);
    assert.ok(statSync(shot).size > 50_000, 'the screenshot has content');
    assert.equal([...readFileSync(shot).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]); // PNG
  });

  test('the check finds a misplaced point, a wrong table number, a hidden chart, a missing line and a missing chart', async () => {
    // move the first HS point 3 px down
    let bad = html.replace(/(aria-label="none \| p=0 \| harmful_score=[^"]*" role="graphics-symbol" aria-roledescription="point" transform="translate\([^,]+,)([0-9.]+)\)/,
      (_, pre: string, y: string) => `${pre}${Number(y) + 3})`);
    assert.is.not(bad, html);
    // change a shown table value
    bad = bad.replace(/(data-metric="finetune_accuracy" data-mean="[^"]*" data-sd="[^"]*" data-n="3">)([0-9.]+)/, (_, pre: string, v: string) => `${pre}${(Number(v) + 0.5).toFixed(2)}`);
    // hide the drift chart, drop one alignment loss line
    bad = bad.replace('<figure id="chart-drift" data-chart="chart-drift">\n<svg', '<figure id="chart-drift" data-chart="chart-drift">\n<svg style="display:none"');
    bad = bad.replace(/<path aria-label="align sft seed 2"[^>]*\/>/, '');
    // and drop the FA chart altogether
    bad = bad.replace(/<figure id="chart-finetune-accuracy"[\s\S]*?<\/figure>/, '');
    const page = join(dir, 'bad.html');
    writeFileSync(page, bad);
    const check = await checkReport(page, results);
    const has = (re: RegExp) => assert.ok(check.problems.some((p) => re.test(p)), `expected a problem matching ${re}: ${JSON.stringify(check.problems)}`);
    has(/^chart-harmful-score: none at p=0: drawn at .* \(0\.00 px, 3\.00 px off\)$/);
    has(/^table: none p=0 finetune_accuracy shows [0-9.]+, the mean is/);
    has(/^chart-drift: the chart is not visible/);
    has(/^chart-loss-align: 5 lines drawn, 6 runs in results.json$/);
    has(/^chart-loss-align: no line for align sft seed 2$/);
    has(/^chart-finetune-accuracy: missing: results.json has data for it$/);
    assert.is(check.problems.length, 6, JSON.stringify(check.problems));
  });

  test('the table before the attack is checked too: its numbers pass, a changed one is found', async () => {
    const withBefore = { ...results, before_attack: ['none', 'sft', 'vaccine'].flatMap((method, i) => [1, 2, 3].map((seed) => ({
      method, seed, metrics: { harmful_score: 80 - 30 * i + seed, harmful_score_plus: 81 - 30 * i + seed, finetune_accuracy: 10 + seed, over_refusal: 20 * i + seed / 3 },
    }))) };
    const good = await renderReport(withBefore);
    const page = join(dir, 'before.html');
    writeFileSync(page, good);
    const check = await checkReport(page, withBefore);
    assert.equal(check.problems, []);
    assert.is(check.checked.tableCells, 60 + 3 * 4);
    const bad = good.replace(/(<td data-method="sft" data-metric="over_refusal" data-mean="[^"]*" data-sd="[^"]*" data-n="3">)([0-9.]+)/, (_, pre: string, v: string) => `${pre}${(Number(v) + 0.5).toFixed(2)}`);
    assert.is.not(bad, good);
    writeFileSync(page, bad);
    const found = await checkReport(page, withBefore);
    assert.equal(found.problems.length, 1, JSON.stringify(found.problems));
    assert.match(found.problems[0], /^table: sft p=before over_refusal shows [0-9.]+, the mean is 20\.66/);
  });

  test.after(() => rmSync(dir, { recursive: true, force: true }));
}

test.run();
