// The attack's data mix takes the rows the reference takes (git-disl/Vaccine train.py,
// "BeaverTails_dangerous": the first int(p*n) rows with is_safe false, then the first benign rows in
// file order, concatenated), and mix.json records them with the files' sha256.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DataError } from '../../engine/data.ts';
import { buildMix, mixCounts, planMix, writeMixRecord } from '../../engine/tasks/mix.ts';
import type { HarmfulRow } from '../../engine/tasks/harmful.ts';

const dir = mkdtempSync(join(tmpdir(), 'mix-test-'));
const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
// 12 harmful rows; rows 2, 5 and 6 are marked safe and must be skipped
const harmfulRows = Array.from({ length: 12 }, (_, i) => ({ prompt: `harm ${i}`, response: `resp ${i}`, is_safe: [2, 5, 6].includes(i) }));
const benignRows = Array.from({ length: 20 }, (_, i) => ({ sentence: `sentence ${i}`, label: i % 2 }));
const harmfulFile = join(dir, 'harmful.jsonl');
const benignFile = join(dir, 'sst2.jsonl');
writeFileSync(harmfulFile, jsonl(harmfulRows));
writeFileSync(benignFile, jsonl(benignRows));

/**
 * The reference's selection, restated from train.py for the test: Python's int() truncates, and
 * its benign count is int((1 - p) * n).
 */
function referencePick(n: number, p: number): { harmful: number[]; benign: number[] } {
  const poisonNum = Math.trunc(p * n), normalNum = Math.trunc((1 - p) * n);
  const harmful: number[] = [];
  harmfulRows.forEach((r, i) => { if (!r.is_safe && harmful.length < poisonNum) harmful.push(i); });
  const benign: number[] = [];
  benignRows.forEach((_, i) => { if (benign.length < normalNum) benign.push(i); });
  return { harmful, benign };
}

test('the mix takes the reference\'s rows, harmful first, for several n and p', () => {
  // (n, p) with p * n whole, as in the grid; see the next test for the others
  for (const [n, p] of [[10, 0.3], [10, 0], [9, 1], [20, 0.05], [20, 0.1], [20, 0.2], [12, 0.5], [20, 0.15]]) {
    const { rows, record } = buildMix({ task: 'sst2', benign: benignFile, harmful: harmfulFile, n, p });
    const ref = referencePick(n, p);
    assert.equal(record.harmful!.indices, ref.harmful, `harmful rows for n=${n} p=${p}`);
    assert.equal(record.benign.indices, ref.benign, `benign rows for n=${n} p=${p}`);
    assert.is(rows.length, n);
    // the rows themselves, in order: harmful (as Alpaca rows) then benign (as sst2 task rows)
    assert.equal(rows.map((r) => r.source === 'harmful' ? r.instruction : r.input), [
      ...ref.harmful.map((i) => `harm ${i}`), ...ref.benign.map((i) => `sentence ${i}`),
    ]);
    assert.ok(rows.filter((r) => r.source === 'benign').every((r) => r.instruction.startsWith('Analyze the sentiment')));
  }
  // n = 10, p = 0.3 by hand: 0.3 * 10 = 3.0000000000000004 -> 3 harmful (0, 1, 3: row 2 is safe), 7 benign
  const { record } = buildMix({ task: 'sst2', benign: benignFile, harmful: harmfulFile, n: 10, p: 0.3 });
  assert.equal(record.harmful!.indices, [0, 1, 3]);
  assert.equal(record.harmful!.lines, [1, 2, 4]);
  assert.is(record.harmful!.skipped_safe, 3);
  assert.equal(record.benign.indices, [0, 1, 2, 3, 4, 5, 6]);
});

test('counts: floor(p*n) in floating point, as the reference; benign n - floor(p*n), where the reference is one short', () => {
  // p * n not whole: the reference takes int(1.05) = 1 harmful and int(5.95) = 5 benign rows, 6 in
  // all; the rule (ours) takes the same harmful row and 6 benign rows, 7 in all
  const ref = referencePick(7, 0.15);
  const { record } = buildMix({ task: 'sst2', benign: benignFile, harmful: harmfulFile, n: 7, p: 0.15 });
  assert.equal(record.harmful!.indices, ref.harmful);
  assert.equal(record.benign.indices, [...ref.benign, 5]);
  assert.equal(mixCounts(1000, 0.05), { harmful: 50, benign: 950 });
  assert.equal(mixCounts(1000, 0.1), { harmful: 100, benign: 900 });
  assert.equal(mixCounts(1000, 0.2), { harmful: 200, benign: 800 });
  // 0.29 * 100 = 28.999999999999996: 28 harmful, as Python's int(0.29 * 100); the reference's
  // int(0.71 * 100) = 71 benign would make 99 rows, we take 72 so the mix has n rows
  assert.equal(mixCounts(100, 0.29), { harmful: 28, benign: 72 });
  assert.is(Math.trunc((1 - 0.29) * 100), 71);
  assert.equal(mixCounts(5, 1), { harmful: 5, benign: 0 });
});

test('bad p and n are DataErrors before any file is read', () => {
  for (const p of [-0.01, 1.01, NaN, Infinity]) {
    assert.throws(() => buildMix({ task: 'sst2', benign: '/nonexistent', harmful: null, n: 10, p }), (e: Error) => e instanceof DataError && /p must be a number in \[0, 1\]/.test(e.message));
  }
  for (const n of [0, -3, 2.5]) {
    assert.throws(() => buildMix({ task: 'sst2', benign: '/nonexistent', n, p: 0.1 }), (e: Error) => e instanceof DataError && /n must be a positive integer/.test(e.message));
  }
});

test('n larger than the rows available: the error says how many each file has', () => {
  // 9 usable harmful rows (3 safe ones skipped), 20 benign
  assert.throws(() => buildMix({ task: 'sst2', benign: benignFile, harmful: harmfulFile, n: 20, p: 0.5 }), (e: Error) => e instanceof DataError
    && e.message === `n = 20 with p = 0.5 needs 10 harmful and 10 benign rows, but ${harmfulFile} has 9 harmful rows (3 more are marked is_safe: true and not used) and ${benignFile} has 20 rows`);
  assert.throws(() => buildMix({ task: 'sst2', benign: benignFile, harmful: harmfulFile, n: 30, p: 0.1 }), (e: Error) => e instanceof DataError
    && /needs 3 harmful and 27 benign rows, but .* has 9 harmful rows .* and .*sst2\.jsonl has 20 rows$/.test(e.message));
  // harmful rows needed but no harmful file; none needed (floor(0.05 * 10) = 0): no harmful file is fine
  assert.throws(() => buildMix({ task: 'sst2', benign: benignFile, n: 10, p: 0.2 }), (e: Error) => e instanceof DataError && /needs 2 harmful rows, but no harmful data file was given/.test(e.message));
  const { record } = buildMix({ task: 'sst2', benign: benignFile, n: 10, p: 0.05 });
  assert.is(record.harmful, null);
  assert.is(record.harmful_rows, 0);
});

test('a row missing its field: file and line, from either file', () => {
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, jsonl([{ sentence: 'a', label: 0 }, { sentence: 'b' }]));
  assert.throws(() => buildMix({ task: 'sst2', benign: bad, harmful: harmfulFile, n: 2, p: 0 }), (e: Error) => e instanceof DataError && e.message.startsWith(`${bad}:2 (line 2): missing field "label"`));
  const badH = join(dir, 'badh.jsonl');
  writeFileSync(badH, jsonl([{ prompt: 'a', response: 'r' }, {}, { prompt: 'c' }]));
  assert.throws(() => buildMix({ task: 'sst2', benign: benignFile, harmful: badH, n: 2, p: 0.5 }), (e: Error) => e instanceof DataError && e.message.startsWith(`${badH}:2 (line 2): missing field "instruction"`));
});

test('mix.json: counts, indices, lines and the sha256 of each source file', () => {
  const { record } = buildMix({ task: 'sst2', benign: benignFile, harmful: harmfulFile, n: 8, p: 0.25 });
  const out = mkdtempSync(join(dir, 'out-'));
  const path = writeMixRecord(out, record);
  const back = JSON.parse(readFileSync(path, 'utf8'));
  assert.equal(back, JSON.parse(JSON.stringify(record)));
  assert.is(back.version, 1);
  assert.is(back.task, 'sst2');
  assert.equal([back.n, back.p, back.harmful_rows, back.benign_rows], [8, 0.25, 2, 6]);
  const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
  assert.is(back.harmful.sha256, sha(harmfulFile));
  assert.is(back.benign.sha256, sha(benignFile));
  assert.equal([back.harmful.file, back.harmful.rows, back.harmful.used, back.harmful.indices], [harmfulFile, 12, 2, [0, 1]]);
  assert.equal([back.benign.file, back.benign.rows, back.benign.used, back.benign.indices, back.benign.lines], [benignFile, 20, 6, [0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]]);
  assert.match(readFileSync(path, 'utf8'), /"indices": \[0,1,2,3,4,5\]/); // lists stay on one line
});

test('planMix on rows in memory (no files)', () => {
  const h: HarmfulRow[] = [{ instruction: 'a', input: '', output: 'x', line: 1, isSafe: true }, { instruction: 'b', input: '', output: 'y', line: 2, isSafe: null }];
  const b = [{ instruction: 'i', input: 's', output: 'positive', line: 1 }];
  const plan = planMix(h, b, 2, 0.5, { harmful: 'h', benign: 'b' });
  assert.equal([plan.harmful, plan.benign, plan.skippedSafe], [[1], [0], 1]);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
