// `node runtime/experiment.js` as users run it (the dist/ bundle through the launcher): bad input
// is one line on stderr, exit code 2 and nothing written; a grid killed with SIGKILL in the middle
// resumes on the same command, skips what was finished and ends with the results.json of an
// uninterrupted run (bit for bit, but for the meta keys that are times and load).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VOLATILE_META_KEYS } from '../../engine/jobs/experiment.ts';
import { buildOnce, inBatches, root, type CliResult } from '../cli/helpers.ts';

buildOnce();
const EXPERIMENT = join(root, 'runtime/experiment.js');
const work = mkdtempSync(join(tmpdir(), 'experiment-cli-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const TINY = ['--model', 'demo', '--methods', 'none,sft,vaccine', '--ps', '0,0.5', '--seeds', '1', '--align-n', '12', '--align-max-steps', '2',
  '--n', '6', '--attack-max-steps', '2', '--attack-lr', '1e-3', '--batch-size', '2', '--eval-limit', '3', '--harmless-limit', '2',
  '--max-new-tokens', '6', '--drift-samples', '4', '--eval-batch-size', '4', '--backend', 'wasm', '--threads', '1'];

/** Runs the command; `onLine` sees stdout as it comes (it may kill the process). */
function run(args: string[], o: { cwd?: string; onStdout?: (text: string, kill: () => void) => void } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [EXPERIMENT, ...args], { cwd: o.cwd ?? work, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; o.onStdout?.(stdout, () => p.kill('SIGKILL')); });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 180_000);
    p.on('error', reject);
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

const write = (name: string, rows: object[]) => {
  const p = join(work, name);
  writeFileSync(p, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return p;
};

test('bad input: one line on stderr, exit code 2, nothing written', async () => {
  const noField = write('nofield.jsonl', [{ prompt: 'hello' }, { question: 'world' }]);
  const aFile = write('a-file', [{ x: 1 }]);
  const cases: [string[], RegExp][] = [
    [['--methods', 'sft,dpo'], /--methods: unknown method 'dpo' \(known: none, sft, vaccine, random-vaccine\)/],
    [['--methods', 'sft,sft'], /--methods: sft is given twice/],
    [['--ps', '0,1.5'], /--ps: p must be in \[0, 1\], got 1\.5/],
    [['--ps', '0,-0.1'], /--ps: p must be in \[0, 1\], got -0\.1/],
    [['--ps', '0,x'], /--ps: 'x' is not a number/],
    [['--seeds', '0'], /--seeds: a count must be in 1\.\.1000, got 0/],
    [['--seeds', '1,a'], /--seeds: expected a count N or a list of integers, got '1,a'/],
    [['--n', '5000'], /n = 5000 with p = 0 needs 0 harmful and 5000 benign rows, but .*sst2_train\.jsonl has 1000 rows/],
    [['--task', 'alpaca'], /--task must be one of sst2, agnews, gsm8k, got 'alpaca'/],
    [['--task', 'agnews'], /the built-in demo has generated data for --task sst2 only/],
    [['--align-n', '99999'], /--align-n 99999: .*align\.jsonl has 200 rows/],
    [['--judge', 'gpt'], /--judge must be 'keyword' or 'model:DIR', got 'gpt'/],
    [['--judge', `model:${join(work, 'no-judge')}`], /--judge model:.*no-judge: directory not found/],
    [['--harmful-prompts', noField], /nofield\.jsonl:2 \(line 2\): missing field "prompt"/],
    [['--harmful-prompts', join(work, 'missing.jsonl')], /--harmful-prompts: file not found: .*missing\.jsonl/],
    [['--model', join(work, 'no-model')], /model not found: .*no-model/],
    [['--eval-limit', '0'], /--eval-limit must be an integer >= 1, got 0/],
    [['--bogus'], /unknown option '--bogus' \(see --help\)/],
  ];
  const results = await inBatches(cases.map((c, i) => [c[0], i] as const), 4, async ([extra, i]) => {
    const out = join(work, `bad-${i}`);
    const args = [...TINY, '--out', out];
    // later flags win in parseArgs: the bad value replaces TINY's
    return { r: await run([...args, ...extra]), out };
  });
  results.forEach(({ r, out }, i) => {
    const [extra, re] = cases[i];
    const what = extra.join(' ');
    assert.is(r.code, 2, `${what}: exit code (stderr: ${r.stderr})`);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, `${what}: one line, got ${r.stderr}`);
    assert.match(lines[0], /^experiment: /, what);
    assert.match(lines[0], re, what);
    assert.not.ok(existsSync(out), `${what}: nothing written to --out`);
  });
  // an --out that is a file: refused, the file untouched
  const before = readFileSync(aFile);
  const r = await run([...TINY, '--out', aFile]);
  assert.is(r.code, 2);
  assert.match(r.stderr.trim(), /^experiment: --out .*a-file is a file, not a directory$/);
  assert.ok(readFileSync(aFile).equals(before));
});

/** results.json without the meta keys that are times and machine load. */
function stable(path: string): unknown {
  const r = JSON.parse(readFileSync(path, 'utf8'));
  for (const k of VOLATILE_META_KEYS) delete r.meta[k];
  return r;
}

test('killed (SIGKILL) in the middle, the same command resumes: finished units skipped, the results.json of an uninterrupted run', async () => {
  // the same relative --out in two folders, so that the paths results.json names are the same
  const once = join(work, 'once'), killed = join(work, 'killed');
  mkdirSync(once);
  mkdirSync(killed);
  const args = [...TINY, '--out', 'grid'];
  const a = await run(args, { cwd: once });
  assert.is(a.code, 0, a.stderr);
  assert.match(a.stdout, /grid: 2 alignments, 3 evaluations before the attack and 6 cells in grid; 0 units finished before \(skipped\), 11 to run/);
  assert.match(a.stdout, /\[1\/11\] done: none before attack seed 1 in \d+ s: HS [\d.]+ HS\+ [\d.]+ FA [\d.]+ drift - over-refusal [\d.]+ \| elapsed/);
  assert.match(a.stdout, /\[11\/11\] done: vaccine p=0\.5 seed 1 in \d+ s: HS [\d.]+ HS\+ [\d.]+ FA [\d.]+ drift [\d.e+-]+ over-refusal [\d.]+ \| elapsed [\d:]+, ETA 0:00/);
  assert.match(a.stdout, /done: 6 of 6 cells in grid\/results\.json and grid\/report\.html \(11 units run now, 0 finished before/);
  // the command runs in the process the launcher is (runtime/launch.js imports the bundle): SIGKILL ends the grid
  const b = await run(args, { cwd: killed, onStdout: (text, kill) => { if (text.includes('[5/11] done')) kill(); } });
  assert.is(b.signal, 'SIGKILL');
  assert.not.match(b.stdout, /\[11\/11\]/);
  const c = await run(args, { cwd: killed });
  assert.is(c.code, 0, c.stderr);
  assert.match(c.stdout, /grid: 2 alignments, 3 evaluations before the attack and 6 cells in grid; ([5-9]|10) units finished before \(skipped\), [1-6] to run/);
  assert.match(c.stdout, /\[1\/11\] finished before: none before attack seed 1/);
  assert.equal(stable(join(killed, 'grid/results.json')), stable(join(once, 'grid/results.json')));
  // and a third run has nothing left to do
  const d = await run(args, { cwd: killed });
  assert.is(d.code, 0, d.stderr);
  assert.match(d.stdout, /11 units finished before \(skipped\), 0 to run/);
  assert.equal(stable(join(killed, 'grid/results.json')), stable(join(once, 'grid/results.json')));
});

test.run();
