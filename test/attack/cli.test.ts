// finetune.js and evaluate.js spawned as users run them (the dist/ bundles through the launcher):
// the bad-input list, each one line on stderr, exit code 2 and nothing written; a fine-tune
// that writes its adapter and mix.json; an evaluation with the model judge that writes its report
// and prints the summary as its last line.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { saveAdapter } from '../../engine/adapter.ts';
import { wasmBackend } from '../helpers.ts';
import { randomLora, tinyConfig } from '../align/helpers_align.ts';
import { writeTinyModel } from '../cli/helpers.ts';

const root = new URL('../../', import.meta.url).pathname;
execFileSync(process.execPath, ['build.mjs'], { cwd: root, stdio: 'ignore' });
const work = mkdtempSync(join(tmpdir(), 'attack-cli-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// A tiny HF model directory (vocab 32, the 24-token fixture tokenizer, 1024 positions: with that
// tokenizer most characters are one token, and an Alpaca prompt is ~250 of them).
const modelDir = join(work, 'model');
const config = writeTinyModel(modelDir, 3, 1024);

const write = (name: string, rows: object[]) => {
  const p = join(work, name);
  writeFileSync(p, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return p;
};
const sst2 = write('sst2.jsonl', Array.from({ length: 12 }, (_, i) => ({ sentence: `hello world ${i}`, label: i % 2 })));
const harm = write('harm.jsonl', [
  { prompt: 'hello', response: 'world', is_safe: false }, { prompt: 'hel', response: 'lo', is_safe: true },
  { prompt: 'world', response: 'hello', is_safe: false }, { prompt: 'or', response: 'ld', is_safe: false },
]);
const prompts = write('prompts.jsonl', [{ prompt: 'hello world' }, { prompt: 'world hello' }]);
const noField = write('nofield.jsonl', [{ prompt: 'hello' }, { question: 'world' }]);

const be = await wasmBackend();
const otherCfg = tinyConfig({ vocabSize: 32, hiddenDim: 40 });
const badAdapter = join(work, 'bad-adapter');
{
  const l = randomLora(be, otherCfg);
  await saveAdapter(badAdapter, l, otherCfg);
  l.dispose();
}
const alignAdapter = join(work, 'align-adapter');
{
  const l = randomLora(be, config, 4, 8, 0, 5);
  await saveAdapter(alignAdapter, l, config);
  l.dispose();
}
const badJudge = join(work, 'bad-judge');
cpSync(join(root, 'test/fixtures/judge'), badJudge, { recursive: true });
{
  const cfg = JSON.parse(readFileSync(join(badJudge, 'config.json'), 'utf8'));
  writeFileSync(join(badJudge, 'config.json'), JSON.stringify({ ...cfg, num_labels: 14, id2label: undefined }));
}

function run(cmd: 'finetune' | 'evaluate', args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, `runtime/${cmd}.js`), ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
let outN = 0;
const fresh = (ext = '') => join(work, `out${outN++}${ext}`);
const FAST = ['--backend', 'wasm', '--threads', '1'];

test('bad input: one line on stderr, exit 2, nothing written (finetune and evaluate)', () => {
  const ft = ['--model', modelDir, '--task', 'sst2', '--benign', sst2, '--harmful', harm, '--n', '8', '--p', '0.25', '--max-steps', '1', '--max-length', '512', ...FAST];
  const ev = ['--model', modelDir, '--max-new-tokens', '2', ...FAST];
  const cases: ['finetune' | 'evaluate', string, string[], RegExp][] = [
    ['evaluate', 'a prompts file without the field', [...ev, '--harmful', noField], /nofield\.jsonl:2 \(line 2\): missing field "prompt"/],
    ['finetune', 'p outside [0, 1]', [...ft, '--p', '1.5'], /^finetune: --p must be a number in \[0, 1\], got 1\.5$/],
    ['finetune', 'p below 0', [...ft, '--p=-0.1'], /--p must be a number in \[0, 1\], got -0\.1/],
    ['finetune', 'n larger than the rows available', [...ft, '--n', '40'], /n = 40 with p = 0\.25 needs 10 harmful and 30 benign rows, but .*harm\.jsonl has 3 harmful rows \(1 more are marked is_safe: true and not used\) and .*sst2\.jsonl has 12 rows/],
    ['finetune', 'an unknown task', [...ft, '--task', 'imdb'], /--task must be one of sst2, agnews, gsm8k, alpaca, got 'imdb'/],
    ['evaluate', 'an unknown task', [...ev, '--task', 'alpaca', '--eval', sst2], /--task must be one of sst2, agnews, gsm8k, got 'alpaca'/],
    ['evaluate', 'a judge model whose head does not fit its config', [...ev, '--harmful', prompts, '--judge', `model:${badJudge}`], /score\.weight has shape \[3,16\] but .*needs \[14, 16\] \(num_labels 14, hidden_size 16\)/],
    ['evaluate', 'an unknown judge', [...ev, '--harmful', prompts, '--judge', 'gpt4'], /--judge must be 'keyword' or 'model:DIR', got 'gpt4'/],
    ['finetune', 'an adapter that does not fit the model', [...ft, '--merge-adapter', badAdapter], /needs \[24, 4\]/],
    ['evaluate', 'an adapter that does not fit the model', [...ev, '--harmful', prompts, '--adapter', badAdapter], /needs \[24, 4\]/],
    ['evaluate', 'a drift reference that does not fit', [...ev, '--drift-reference', badAdapter, '--drift-data', harm], /needs \[24, 4\]/],
    ['evaluate', 'nothing to measure', ev, /nothing to measure/],
    ['evaluate', '\'none\' beside a reference adapter', [...ev, '--drift-reference', alignAdapter, '--drift-reference', 'none', '--drift-data', harm], /--drift-reference none stands alone/],
    ['evaluate', '--task without --eval', [...ev, '--task', 'sst2'], /--task needs --eval FILE/],
    ['finetune', 'no harmful file when the mix needs one', ['--model', modelDir, '--task', 'sst2', '--benign', sst2, '--n', '8', '--p', '0.5', ...FAST], /needs 4 harmful rows, but no harmful data file was given/],
    ['finetune', 'benign rows of another task', [...ft, '--task', 'gsm8k'], /sst2\.jsonl:1 \(line 1\): missing field "question"/],
  ];
  for (const [cmd, what, args, re] of cases) {
    const out = fresh(cmd === 'evaluate' ? '.json' : '');
    const r = run(cmd, [...args, '--out', out]);
    assert.is(r.code, 2, `${cmd}, ${what}: exit code (stderr: ${r.stderr})`);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, `${cmd}, ${what}: one line on stderr, got:\n${r.stderr}`);
    assert.match(lines[0], re, `${cmd}, ${what}`);
    assert.ok(!/\n\s+at /.test(r.stderr), `${cmd}, ${what}: no stack trace`);
    assert.ok(!existsSync(out), `${cmd}, ${what}: nothing written to ${out}`);
  }
});

test('finetune: Double-LoRA on the mix, adapter, metrics.jsonl and mix.json in --out', () => {
  const out = fresh();
  const r = run('finetune', ['--model', modelDir, '--task', 'sst2', '--benign', sst2, '--harmful', harm, '--n', '8', '--p', '0.25',
    '--merge-adapter', alignAdapter, '--max-steps', '2', '--batch-size', '4', '--max-length', '512', '--out', out, ...FAST]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /mix: 2 harmful rows of .*harm\.jsonl \+ 6 sst2 rows/);
  assert.match(r.stdout, /merged adapter .*align-adapter into the base weights/);
  const mix = JSON.parse(readFileSync(join(out, 'mix.json'), 'utf8'));
  assert.equal([mix.harmful.indices, mix.benign.indices], [[0, 2], [0, 1, 2, 3, 4, 5]]);
  assert.is(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 2);
  const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
  assert.equal([cfg.r, cfg.lora_alpha], [8, 1], 'the attack scripts\' LoRA: r 8, alpha 1');
});

test('evaluate: harmful score with the model judge, fine-tune accuracy, drift; the report and the summary line', () => {
  const out = fresh('.json');
  const r = run('evaluate', ['--model', modelDir, '--adapter', alignAdapter, '--harmful', prompts, '--judge', `model:${join(root, 'test/fixtures/judge')}`,
    '--task', 'sst2', '--eval', sst2, '--limit', '3', '--drift-reference', alignAdapter, '--drift-data', harm,
    '--max-new-tokens', '4', '--out', out, ...FAST]);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const summary = JSON.parse(lines[lines.length - 1]);
  assert.equal(Object.keys(summary), ['n', 'harmful_score', 'harmful_score_plus', 'finetune_accuracy', 'drift']);
  assert.is(summary.n, 5);
  assert.is(summary.drift, 0);
  const report = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(report.summary, summary);
  assert.is(report.items.length, 5);
  for (const it of report.items.filter((i: { set: string }) => i.set === 'harmful')) {
    assert.type(it.verdict.score, 'number');
    assert.is(it.verdict.flagged, it.verdict.score > 0.5);
  }
  assert.match(report.details.harmful.judge, /^model:.*fixtures\/judge/);
});

test('evaluate: Ctrl-C stops between batches of answers, exit 130, nothing written', async () => {
  const many = write('many.jsonl', Array.from({ length: 400 }, (_, i) => ({ prompt: `hello world ${i}` })));
  const out = fresh('.json');
  const child = spawn(process.execPath, [join(root, 'runtime/evaluate.js'), '--model', modelDir, '--harmful', many, '--batch-size', '1',
    '--max-new-tokens', '8', '--out', out, ...FAST], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => {
    stdout += t;
    if (/^answer \d+\/400 harmful \d+\/400 /m.test(stdout) && !child.killed) child.kill('SIGINT');
  });
  child.stderr.setEncoding('utf8').on('data', (t: string) => { stderr += t; });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c, sig) => resolve(c ?? (sig ? 128 + 2 : null))));
  assert.is(code, 130, `exit code (stderr: ${stderr})`);
  assert.match(stderr, /evaluate: interrupted after \d+ of 400 answers; nothing was written to /);
  assert.ok(!existsSync(out), 'no report written');
});

test('finetune: SIGTERM checkpoints (the shared core\'s interrupts), prints the finetune command that resumes, which finishes the run', async () => {
  const out = fresh();
  const args = ['--model', modelDir, '--task', 'sst2', '--benign', sst2, '--harmful', harm, '--n', '8', '--p', '0.25',
    '--max-steps', '400', '--batch-size', '2', '--max-length', '512', '--out', out, ...FAST];
  const child = spawn(process.execPath, [join(root, 'runtime/finetune.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
  let stdout = '', stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => {
    stdout += t;
    if (/^step \d+\/400/m.test(stdout) && !child.killed) child.kill('SIGTERM');
  });
  child.stderr.setEncoding('utf8').on('data', (t: string) => { stderr += t; });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.is(code, 143, `exit code (stderr: ${stderr})`);
  const resume = /resume with: (.*)$/m.exec(stderr)?.[1] ?? '';
  assert.match(resume, /runtime\/finetune\.js .*--resume$/);
  assert.ok(existsSync(join(out, 'mix.json')));
  const r = spawnSync('sh', ['-c', resume], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /resumed at step \d+/);
  assert.is(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 400);
});

test('--help tells the defaults and where they come from: the attack scripts\' values, --preset paper, the alignment alpha, the unmasked reference drift', () => {
  const ft = run('finetune', ['--help']);
  assert.is(ft.code, 0);
  for (const s of ['--lr X                  peak learning rate (default 0.00001)', '--epochs N              passes over the data (default 20;',
    'alpha 1 (0.5 for gsm8k)', '--preset P', '--merge-adapter DIR', 'mix.json']) assert.ok(ft.stdout.includes(s), `finetune --help has ${s}`);
  const al = spawnSync(process.execPath, [join(root, 'runtime/align.js'), '--help'], { encoding: 'utf8' });
  assert.match(al.stdout, /alignment scripts train with alpha 1, not the 4/);
  assert.match(al.stdout, /--preset P\s+paper: the reference's script\/alignment\/\*\.sh as they run: 50 epochs/);
  const ev = run('evaluate', ['--help']);
  assert.is(ev.code, 0);
  for (const s of ['--limit N               score the first N rows of each prompts / evaluation file (default 500)', 'the reference implementation did not mask it',
    '128 for --harmful', '200 for --eval', '--judge J']) assert.ok(ev.stdout.includes(s), `evaluate --help has ${s}`);
});

test.run();
