// What a run leaves in --out, through the real command line: a diverging run (--lr 1e30) stops
// with exit 1 naming the step and the tensor, keeps the last good checkpoint and writes no
// adapter; --out holding another run is refused unless --resume or --overwrite; --resume knows the
// model and data by content, not by the path's text; --save-total-limit prunes old checkpoints;
// the output piped into `head` ends quietly with the outputs saved.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import { ALIGN, buildOnce, dirHash, FAST, root, runAlign, writeRows, writeTinyModel } from './helpers.ts';

buildOnce();
const work = mkdtempSync(join(tmpdir(), 'align-outputs-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const modelDir = join(work, 'model');
writeTinyModel(modelDir);
const dataPath = writeRows(join(work, 'data.jsonl'));
const BASE = ['--model', modelDir, '--data', dataPath, ...FAST, '--quiet'];
const lines = (out: string) => readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean);

test('--lr 1e30: exit 1 at step 2 naming the tensor; the last good checkpoint is kept; no adapter, no null in metrics', async () => {
  const out = join(work, 'nan');
  // warmup makes step 1's lr 0 (a good step, checkpointed); step 2's 1e30 sends the weights out of range
  const r = await runAlign([...BASE, '--out', out, '--lr', '1e30', '--max-steps', '10', '--save-every', '1']);
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stderr.trim().split('\n').length, 1, 'one line');
  assert.match(r.stderr, /^align: failed: step 2 of 10: the updated weights diverged: layers\.\d\.[a-z_]+\.lora_[AB] reaches \d\.\d{3}e\+\d\d /);
  assert.match(r.stderr, new RegExp(`no adapter was written; the last good checkpoint is ${join(out, 'checkpoint-1').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\. Lower --lr\\.`));
  assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(readdirSync(out).sort(), ['checkpoint-1', 'metrics.jsonl']);
  for (const [, t] of readSafetensors(join(out, 'checkpoint-1', 'adapter_model.safetensors')).tensors) assert.ok(t.data.every(Number.isFinite));
  const m = lines(out).map((l) => JSON.parse(l));
  assert.is(m.length, 2);
  assert.match(m[1].nonfinite, /^the updated weights diverged: layers\./);
  assert.not.match(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), /"(loss|lora_grad_norm)":null/);
  // skip cannot drop an update that is already in the weights: it stops too
  const out2 = join(work, 'nan-skip');
  const r2 = await runAlign([...BASE, '--out', out2, '--lr', '1e30', '--max-steps', '10', '--on-nonfinite', 'skip']);
  assert.is(r2.code, 1);
  assert.match(r2.stderr, /step 2 of 10: the updated weights diverged: .* there is no checkpoint \(--save-every N writes them\)\. Lower --lr\./);
  assert.not.ok(existsSync(join(out2, 'adapter_model.safetensors')));
});

test('a NaN loss (SGD at lr 1e17): stop names the loss; skip drops those steps, counts them, and stops after 10 in a row', async () => {
  const args = [...BASE, '--optimizer', 'sgd', '--lr', '1e17', '--scheduler', 'constant', '--max-grad-norm', '0'];
  const stop = join(work, 'loss-stop');
  const r = await runAlign([...args, '--out', stop, '--max-steps', '4']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /^align: failed: step 2 of 4: the loss is NaN\. The run is stopped and no adapter was written; there is no checkpoint .* Lower --lr, or pass --on-nonfinite skip to drop such steps\.\n$/);
  const m = lines(stop).map((l) => JSON.parse(l));
  assert.equal([m.length, m[1].loss, m[1].nonfinite], [2, 'NaN', 'the loss is NaN']);
  const skip = join(work, 'loss-skip');
  const s = await runAlign([...args, '--out', skip, '--max-steps', '4', '--on-nonfinite', 'skip']);
  assert.is(s.code, 0, s.stderr);
  const ms = lines(skip).map((l) => JSON.parse(l));
  assert.equal(ms.map((x) => x.skipped_nonfinite), [0, 1, 2, 3]);
  // the skipped steps left the weights as step 1 made them: finite
  for (const [, t] of readSafetensors(join(skip, 'adapter_model.safetensors')).tensors) assert.ok(t.data.every(Number.isFinite));
  const many = await runAlign([...args, '--out', join(work, 'loss-skip-many'), '--max-steps', '20', '--on-nonfinite', 'skip']);
  assert.is(many.code, 1);
  assert.match(many.stderr, /step 11 of 20: the loss is NaN, and so were the 9 steps before: the run has diverged/);
});

test('--out holding another run: refused (exit 2, untouched) unless --resume or --overwrite; a file; contradictory flags', async () => {
  const out = join(work, 'reuse');
  assert.is((await runAlign([...BASE, '--out', out, '--max-steps', '4', '--save-every', '2'])).code, 0);
  writeFileSync(join(out, 'notes.txt'), 'mine');
  const before = dirHash(out);
  const r = await runAlign([...BASE, '--out', out, '--max-steps', '3']);
  assert.is(r.code, 2);
  assert.is(r.stderr, `align: --out ${out} already holds a run (adapter_config.json, adapter_model.safetensors, checkpoint-2, metrics.jsonl): --resume continues it, --overwrite replaces it\n`);
  assert.is(dirHash(out), before);
  const both = await runAlign([...BASE, '--out', out, '--resume', '--overwrite']);
  assert.is(both.code, 2);
  assert.match(both.stderr, /--resume and --overwrite contradict each other/);
  assert.is(dirHash(out), before);
  // --overwrite: the old run's names go, other files stay
  const o = await runAlign([...BASE, '--out', out, '--max-steps', '3', '--overwrite']);
  assert.is(o.code, 0, o.stderr);
  assert.equal(readdirSync(out).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'metrics.jsonl', 'notes.txt']);
  assert.is(lines(out).length, 3);
  assert.is(readFileSync(join(out, 'notes.txt'), 'utf8'), 'mine');
  // a finished run without checkpoints cannot be resumed
  const nr = await runAlign([...BASE, '--out', out, '--max-steps', '3', '--resume']);
  assert.is(nr.code, 2);
  assert.match(nr.stderr, /--resume: .* holds a run \(.*\) but no checkpoint to continue from; --overwrite starts it again/);
  // --out that is a file, or inside one
  const file = join(work, 'a-file');
  writeFileSync(file, 'x');
  const f = await runAlign([...BASE, '--out', file]);
  assert.is(f.code, 2);
  assert.is(f.stderr, `align: --out ${file} is a file, not a directory\n`);
  const f2 = await runAlign([...BASE, '--out', join(file, 'sub')]);
  assert.is(f2.code, 2);
  assert.match(f2.stderr, /is a file, not a directory/);
  assert.is(readFileSync(file, 'utf8'), 'x');
  // an empty directory, or one with other files only, is fine
  const empty = join(work, 'empty');
  mkdirSync(empty);
  writeFileSync(join(empty, 'README'), 'r');
  assert.is((await runAlign([...BASE, '--out', empty, '--max-steps', '1'])).code, 0);
});

test('--resume identifies the model and data by content: other path forms and copies resume, other weights do not', async () => {
  const out = join(work, 'bycontent');
  const args = ['--max-steps', '4', '--save-every', '2', ...FAST, '--quiet', '--out', out];
  assert.is((await runAlign(['--model', modelDir, '--data', dataPath, ...args])).code, 0);
  // the same files: relative path with ./ and .., a symlink, a copy elsewhere
  const rel = './' + relative(root, join(work, 'model', '..', 'model')) + '/';
  symlinkSync(modelDir, join(work, 'model-link'));
  symlinkSync(dataPath, join(work, 'data-link.jsonl'));
  cpSync(modelDir, join(work, 'model-copy'), { recursive: true });
  for (const [model, data] of [[rel, dataPath], [join(work, 'model-link'), join(work, 'data-link.jsonl')], [join(work, 'model-copy'), dataPath]]) {
    const r = await runAlign(['--model', model, '--data', data, ...args, '--resume']);
    assert.is(r.code, 0, `${model}: ${r.stderr}`);
  }
  // other weights (same shapes), and other data with as many rows, are refused
  const other = join(work, 'model-other');
  writeTinyModel(other, 99);
  const r = await runAlign(['--model', other, '--data', dataPath, ...args, '--resume']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /^align: --resume: \S+checkpoint-2 was written with different settings \(model_sha256: "[0-9a-f]{64}" vs "[0-9a-f]{64}"\)\n$/);
});

test('--save-total-limit keeps only the newest N checkpoints', async () => {
  const out = join(work, 'limit');
  const r = await runAlign([...BASE, '--out', out, '--max-steps', '9', '--save-every', '2', '--save-total-limit', '2']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(readdirSync(out).filter((n) => n.startsWith('checkpoint-')).sort(), ['checkpoint-6', 'checkpoint-8']);
  const bad = await runAlign([...BASE, '--out', join(work, 'limit0'), '--save-total-limit', '0']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /--save-total-limit must be an integer >= 1, got 0/);
});

test('output piped into head: no EPIPE trace; the run goes on to the end and saves its outputs', () => {
  const out = join(work, 'piped');
  const cmd = `set -o pipefail; "${process.execPath}" "${ALIGN}" ${[...BASE.filter((a) => a !== '--quiet'), '--out', out, '--max-steps', '30'].map((a) => `'${a}'`).join(' ')} | head -n 1; echo "exit \${PIPESTATUS[0]}" >&2`;
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: 180_000 });
  assert.is(r.stdout.split('\n').filter(Boolean).length, 1);
  assert.match(r.stderr, /^exit 0\n$/, r.stderr);
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')));
  assert.is(lines(out).length, 30);
});

test.run();
