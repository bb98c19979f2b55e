// Interrupts, as a user gives them: a real `node runtime/align.js` receives SIGTERM mid-run, exits
// 143 after writing a checkpoint and printing the command that resumes it; that command, run as
// printed, finishes the run with the same adapter, bit for bit, as an uninterrupted run (one
// thread, so the same seed gives the same bits). Ctrl-C as a terminal sends it (to the process
// group) is one interrupt, and a second one ends the run at once; the handlers' removal is
// checked in-process with emitted signals.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import { align, type Interrupted } from '../../engine/jobs/align.ts';
import { catchInterrupts } from '../../runtime/cli.ts';
import { webgpuBackend } from '../helpers.ts';
import { ALIGN, buildOnce, FAST, root, runAlign, writeRows, writeTinyModel } from './helpers.ts';

buildOnce();
const work = mkdtempSync(join(tmpdir(), 'align-interrupt-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const modelDir = join(work, 'model');
writeTinyModel(modelDir);
const dataPath = writeRows(join(work, 'data.jsonl'));
const STEPS = 60;
const ARGS = ['--model', modelDir, '--data', dataPath, '--max-steps', String(STEPS), ...FAST, '--lora-dropout', '0.1'];

const metricsOf = (out: string) => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

test('SIGTERM mid-run: exit 143, a checkpoint, the exact resume command; resuming gives the uninterrupted adapter bit for bit', async () => {
  const full = join(work, 'full');
  const ref = await runAlign([...ARGS, '--out', full, '--quiet']);
  assert.is(ref.code, 0, ref.stderr);

  const out = join(work, 'interrupted');
  const p = spawn(process.execPath, [ALIGN, ...ARGS, '--out', out, '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '', sent = false;
  p.stdout.on('data', (d) => {
    stdout += d;
    // the first step event past step 3: send SIGTERM while the run is going
    if (!sent && stdout.split('\n').some((l) => l.startsWith('{') && JSON.parse(l).event === 'step' && JSON.parse(l).step >= 3)) {
      sent = true;
      p.kill('SIGTERM');
    }
  });
  p.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  assert.ok(sent, 'the run ended before it could be interrupted');
  assert.is(code, 143, stderr);
  assert.match(stderr, /align: SIGTERM: finishing the current step, then saving a checkpoint/);
  const m = /interrupted at step (\d+) of 60: checkpoint saved in (\S+)\nresume with: (.+)\n/.exec(stderr);
  assert.ok(m, stderr);
  const step = Number(m![1]);
  assert.ok(step >= 3 && step < STEPS, `stopped at step ${step}`);
  assert.is(m![2], join(out, `checkpoint-${step}`));
  assert.ok(existsSync(join(out, `checkpoint-${step}`, 'trainer_state.json')));
  assert.not.ok(existsSync(join(out, 'adapter_model.safetensors')), 'an interrupted run writes no final adapter');
  assert.is(metricsOf(out).length, step);
  const events = stdout.trim().split('\n').map((l) => JSON.parse(l));
  const ev = events.find((e) => e.event === 'interrupted');
  assert.equal([ev.step, ev.checkpoint, ev.resume], [step, m![2], m![3]]);
  // the resume command, run as printed (from the directory the run was started in)
  assert.is(m![3], `node runtime/align.js ${[...ARGS, '--out', out, '--json'].join(' ')} --resume`);
  const resumed = spawnSync('sh', ['-c', m![3]], { cwd: root, encoding: 'utf8', timeout: 180_000 });
  assert.is(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, new RegExp(`resuming from \\S+checkpoint-${step} \\(step ${step} of 60\\)`));
  assert.ok(readFileSync(join(out, 'adapter_model.safetensors')).equals(readFileSync(join(full, 'adapter_model.safetensors'))),
    'the resumed adapter differs from the uninterrupted one');
  assert.equal(metricsOf(out).map((x) => [x.step, x.loss, x.lr]), metricsOf(full).map((x) => [x.step, x.loss, x.lr]));
  // the checkpoint holds finite weights, the ones the resumed run started from
  for (const [, t] of readSafetensors(join(out, `checkpoint-${step}`, 'adapter_model.safetensors')).tensors) assert.ok(t.data.every(Number.isFinite));
});

test('Ctrl-C as a terminal sends it (SIGINT to the process group) is one interrupt: exit 130 with a checkpoint', async () => {
  const out = join(work, 'ctrl-c');
  // detached: a process group of its own, standing in for the terminal's foreground group
  const p = spawn(process.execPath, [ALIGN, ...ARGS, '--out', out, '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '', stderr = '', sent = false;
  p.stdout.on('data', (d) => {
    stdout += d;
    if (!sent && /"event":"step","step":[3-9]/.test(stdout)) { sent = true; process.kill(-p.pid!, 'SIGINT'); }
  });
  p.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  assert.ok(sent, 'the run ended before it could be interrupted');
  assert.is(code, 130, stderr);
  assert.match(stderr, /interrupted at step \d+ of 60: checkpoint saved in \S+checkpoint-\d+\nresume with: node runtime\/align\.js /);
  assert.not.match(stderr, /again: exiting at once/);
});

// A second Ctrl-C ends the run at once. It can only be seen where the first is handled while a step
// still runs: on WebGPU, whose steps wait on the device with the event loop free (a WASM step
// computes on the main thread, so its handler runs between steps, and the run then stops at once
// anyway). The built-in demo on WebGPU has steps of seconds on a software renderer.
const gpu = await webgpuBackend();
if (!gpu) console.warn('test/cli/interrupt: the second-Ctrl-C test is NOT run here (no WebGPU adapter)');
else test('a second Ctrl-C (to the process group) ends the run at once, mid-step: killed by SIGINT, no checkpoint written', async () => {
  const out = join(work, 'twice');
  const p = spawn(process.execPath, [ALIGN, '--backend', 'webgpu', '--batch-size', '4', '--max-length', '256', '--max-steps', '50', '--out', out, '--json'],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '', stderr = '', first = false, second = false;
  p.stdout.on('data', (d) => {
    stdout += d;
    if (!first && /"event":"step"/.test(stdout)) { first = true; process.kill(-p.pid!, 'SIGINT'); }
  });
  p.stderr.on('data', (d) => {
    stderr += d;
    // the first one is handled (mid-step): the second one now
    if (first && !second && /SIGINT: finishing the current step/.test(stderr)) { second = true; process.kill(-p.pid!, 'SIGINT'); }
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => p.on('close', (c, s) => r([c, s])));
  assert.ok(second, `the run ended before the second Ctrl-C: ${stderr}`);
  assert.equal([code, signal], [null, 'SIGINT'], stderr);
  assert.not.match(stderr, /interrupted at step/);
  assert.not.ok(existsSync(join(out, 'adapter_model.safetensors')));
});

test('a signal before any step: nothing is written (--out not created); one after the last step keeps the saved adapter', async () => {
  const out = join(work, 'early');
  const pre = new AbortController();
  pre.abort('SIGINT');
  const seen: Interrupted[] = [];
  const opts = { model: modelDir, data: dataPath, maxSteps: 3, backend: 'wasm' as const, threads: 1, batchSize: 2, maxLength: 160 };
  const r = await align({ ...opts, out }, { signal: pre.signal, onInterrupted: (i) => seen.push(i) });
  assert.equal(r.interrupted, { step: 0, totalSteps: 3, checkpoint: null, finished: false });
  assert.equal(seen, [r.interrupted]);
  assert.not.ok(existsSync(out), '--out was created');
  // aborted during the last step: the run is complete, so the adapter is saved and no checkpoint is made
  const late = new AbortController();
  const done = join(work, 'late');
  const r2 = await align({ ...opts, out: done }, { signal: late.signal, onStep: (m) => { if (m.step === 3) late.abort('SIGTERM'); } });
  assert.equal(r2.interrupted, { step: 3, totalSteps: 3, checkpoint: null, finished: true });
  assert.ok(existsSync(join(done, 'adapter_model.safetensors')));
  assert.not.ok(existsSync(join(done, 'checkpoint-3')));
});

test('the first signal aborts the run and removes the handlers: a later one takes the default action (ends the process at once)', () => {
  const ctl = new AbortController();
  const before = process.listenerCount('SIGINT'), beforeTerm = process.listenerCount('SIGTERM');
  const write = process.stderr.write.bind(process.stderr);
  let said = '';
  process.stderr.write = ((s: string) => { said += s; return true; }) as typeof process.stderr.write;
  try {
    const h = catchInterrupts('t', ctl);
    assert.is(process.listenerCount('SIGINT'), before + 1);
    assert.is(process.listenerCount('SIGTERM'), beforeTerm + 1);
    process.emit('SIGTERM', 'SIGTERM');
    assert.ok(ctl.signal.aborted);
    assert.is(ctl.signal.reason, 'SIGTERM');
    assert.is(h.received, 'SIGTERM');
    assert.match(said, /t: SIGTERM: finishing the current step, then saving a checkpoint \(the signal again exits at once\)/);
    // no handler of ours is left: the next SIGINT or SIGTERM ends the process by default, even mid-step
    assert.is(process.listenerCount('SIGINT'), before);
    assert.is(process.listenerCount('SIGTERM'), beforeTerm);
    h.remove();
  } finally {
    process.stderr.write = write;
  }
});

test.run();
