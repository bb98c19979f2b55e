// --profile on a real align run (the built-in demo: a tiny random Llama on generated rows, so it
// runs on a fresh clone; and stories260K on safety_refusals where ../shared/data has them), through
// the command line: the trace file must be well-formed trace-event
// JSON (test/profile/trace_check.ts), hold the step's phases nested as they run (Vaccine: pass 1
// forward and backward, the perturbation, pass 2 forward and backward, the optimizer; SFT: forward,
// backward, optimizer), the ops inside them with their FLOPs, and on WebGPU (lavapipe here) the
// dispatches' GPU timestamps; the per-kernel table is printed. A --profile path in a missing
// directory is bad input: exit 2, one line, nothing written.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeTinyModel } from '../cli/helpers.ts';
import { DATA_DIR, webgpuBackend } from '../helpers.ts';
import { checkTrace, within, type TraceEvent } from './trace_check.ts';

const root = new URL('../../', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'profile-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

/** Runs a command (runtime/<cmd>-main.ts, as its launcher runs the bundle) and returns what it printed. */
function command(cmd: 'align' | 'finetune' | 'evaluate', args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `runtime/${cmd}-main.ts`, ...args], { cwd: root, encoding: 'utf8', timeout: 600_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const align = (args: string[]) => command('align', args);

/** Runs align (the demo unless `extra` names a model) for 2 steps with --profile; returns the checked trace and what was printed. */
function profiledRun(name: string, extra: string[], cmd: 'align' | 'finetune' | 'evaluate' = 'align') {
  const trace = join(work, `${name}.json`);
  const r = command(cmd, [...(cmd === 'evaluate' ? [] : ['--max-steps', '2']), '--out', join(work, name + (cmd === 'evaluate' ? '.out.json' : '')),
    '--profile', trace, ...extra]);
  assert.is(r.status, 0, `align failed: ${r.stderr}`);
  const { events, problems } = checkTrace(JSON.parse(readFileSync(trace, 'utf8')));
  assert.equal(problems.slice(0, 5), [], 'the trace breaks the trace-event format');
  return { events, stdout: r.stdout, otherData: JSON.parse(readFileSync(trace, 'utf8')).otherData as Record<string, unknown> };
}

const phases = (events: TraceEvent[], name: string) => events.filter((e) => e.cat === 'phase' && e.name === name);
const ops = (events: TraceEvent[], name: string) => events.filter((e) => e.cat === 'op' && e.name === name);

/** Each step holds `order` in that order, each once, within its micro-batch (or the step itself). */
function checkSteps(events: TraceEvent[], order: string[]): void {
  const steps = phases(events, 'step');
  assert.is(steps.length, 2, 'one step span per optimizer step');
  for (const step of steps) {
    const inside = (name: string) => phases(events, name).filter((p) => within(p, step));
    const found = order.map((n) => {
      const got = inside(n);
      assert.is(got.length, 1, `'${n}' once in the step`);
      return got[0];
    });
    for (let i = 1; i < found.length; i++) assert.ok(found[i].ts >= found[i - 1].ts + found[i - 1].dur!, `'${order[i]}' after '${order[i - 1]}'`);
    const mb = inside('micro-batch');
    assert.is(mb.length, 1);
    for (const p of found.filter((f) => f.name !== 'optimizer')) assert.ok(within(p, mb[0]), `'${p.name}' within the micro-batch`);
    const opt = found.find((f) => f.name === 'optimizer');
    if (opt) {
      assert.ok(!within(opt, mb[0]), 'the optimizer runs after the micro-batch');
      assert.ok(ops(events, 'adamw').some((o) => within(o, opt)), 'adamw ops within the optimizer phase');
    }
  }
}

function checkOps(events: TraceEvent[]): void {
  const mm = ops(events, 'matmul');
  assert.ok(mm.length > 0, 'matmul ops in the trace');
  const a = mm[0].args as { M: number; N: number; K: number; flops: number };
  assert.is(a.flops, 2 * a.M * a.N * a.K, 'a matmul carries its dimensions and FLOPs');
  // every op call of a step lies within one of its phases
  for (const step of phases(events, 'step')) {
    const inner = events.filter((e) => e.cat === 'phase' && e !== step && within(e, step));
    for (const o of events.filter((e) => e.cat === 'op' && within(e, step))) {
      assert.ok(inner.some((p) => within(o, p)), `op '${o.name}' at ${o.ts} lies within a phase of its step`);
    }
  }
}

function checkTable(stdout: string, withPhases = true): void {
  assert.match(stdout, /profile: trace written to /);
  assert.match(stdout, /op\s+calls\s+total ms\s+share\s+GFLOP\s+GFLOP\/s/);
  assert.match(stdout, /\n\s+matmul\s+\d+\s+[\d.]+\s+[\d.]+%\s+[\d.]+\s+[\d.]+/, 'a matmul row with its GFLOP/s');
  if (withPhases) assert.match(stdout, /phases:/);
}

test('the trace checker refuses what breaks the format', () => {
  const x = (name: string, ts: number, dur: number, tid = 1) => ({ name, ph: 'X', ts, dur, pid: 1, tid });
  assert.equal(checkTrace({ traceEvents: [x('a', 0, 10), x('b', 2, 3), x('c', 10, 1)] }).problems, [], 'nested and adjacent spans are fine');
  assert.equal(checkTrace({ traceEvents: [x('a', 0, 10), x('b', 5, 1, 2), x('c', 2, 1, 3)] }).problems, [], 'tracks are independent');
  const bad: [string, unknown, RegExp][] = [
    ['no traceEvents', { events: [] }, /no traceEvents/],
    ['partial overlap', { traceEvents: [x('a', 0, 10), x('b', 5, 10)] }, /overlaps 'a'/],
    ['time going back', { traceEvents: [x('a', 5, 1), x('b', 2, 1)] }, /timestamps go back/],
    ['X without dur', { traceEvents: [{ name: 'a', ph: 'X', ts: 0, pid: 1, tid: 1 }] }, /dur/],
    ['unknown ph', { traceEvents: [{ name: 'a', ph: 'Q', ts: 0, pid: 1, tid: 1 }] }, /unknown ph/],
    ['no name', { traceEvents: [{ ph: 'X', ts: 0, dur: 1, pid: 1, tid: 1 }] }, /no name/],
    ['negative ts', { traceEvents: [x('a', -1, 1)] }, /ts must be/],
    ['fractional tid', { traceEvents: [x('a', 0, 1, 1.5)] }, /integers/],
  ];
  for (const [what, json, re] of bad) {
    const { problems } = checkTrace(json);
    assert.ok(problems.some((p) => re.test(p)), `${what}: ${JSON.stringify(problems)}`);
  }
});

const VACCINE = ['pass 1 forward', 'pass 1 backward', 'perturbation', 'pass 2 forward', 'pass 2 backward', 'optimizer'];

test('--profile, Vaccine on WASM: phases, ops with FLOPs, wall time per op, the per-kernel table', () => {
  const { events, stdout, otherData } = profiledRun('wasm-vaccine', ['--method', 'vaccine', '--backend', 'wasm', '--threads', '2']);
  checkSteps(events, VACCINE);
  checkOps(events);
  for (const p of phases(events, 'perturbation')) {
    assert.ok(ops(events, 'sumSquares').some((o) => within(o, p)) && ops(events, 'scaleByInverseNorm').some((o) => within(o, p)), 'the norm and the scaling within the perturbation');
  }
  assert.is(events.filter((e) => e.cat === 'gpu').length, 0, 'no GPU track on WASM');
  assert.match(String(otherData.timeSource), /wall clock/);
  checkTable(stdout);
});

test('--profile, SFT on WASM: forward, backward, optimizer', () => {
  const { events, stdout } = profiledRun('wasm-sft', ['--method', 'sft', '--backend', 'wasm', '--threads', '1']);
  checkSteps(events, ['forward', 'backward', 'optimizer']);
  assert.is(phases(events, 'perturbation').length, 0);
  checkOps(events);
  checkTable(stdout);
});

test('--profile in a directory that does not exist: exit 2, one line, nothing written', () => {
  const out = join(work, 'bad-out');
  const r = align(['--max-steps', '1', '--out', out, '--profile', join(work, 'missing', 'trace.json')]);
  assert.is(r.status, 2);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /--profile: directory not found/);
  assert.not.ok(existsSync(out), 'nothing written to --out');
});

// The real model and data, where ../shared/data has them: stories260K aligned on safety_refusals.
const model = join(DATA_DIR, 'models/stories260K/stories260K.bin'), data = join(DATA_DIR, 'alignment/safety_refusals.jsonl');
if (existsSync(model) && existsSync(data)) {
  test('--profile, Vaccine on stories260K and safety_refusals (WASM)', () => {
    const { events, stdout } = profiledRun('real', ['--model', model, '--data', data, '--method', 'vaccine', '--backend', 'wasm', '--threads', '2']);
    checkSteps(events, VACCINE);
    checkOps(events);
    checkTable(stdout);
  });
}

// finetune and evaluate have the option from the shared table: a tiny HF model directory (the
// 24-token fixture tokenizer) fine-tuned on an sst2 / harmful mix, then evaluated.
const modelDir = join(work, 'model');
writeTinyModel(modelDir, 3, 1024);
const rowsFile = (name: string, rows: object[]) => {
  const p = join(work, name);
  writeFileSync(p, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return p;
};
const sst2 = rowsFile('sst2.jsonl', Array.from({ length: 12 }, (_, i) => ({ sentence: `hello world ${i}`, label: i % 2 })));
const harm = rowsFile('harm.jsonl', [{ prompt: 'hello', response: 'world' }, { prompt: 'world', response: 'hello' }]);

test('--profile on finetune: the trainer\'s phases (forward, backward, optimizer) and the table', () => {
  const { events, stdout } = profiledRun('finetune', ['--model', modelDir, '--task', 'sst2', '--benign', sst2, '--harmful', harm,
    '--n', '8', '--p', '0.25', '--batch-size', '4', '--max-length', '512', '--backend', 'wasm', '--threads', '1'], 'finetune');
  checkSteps(events, ['forward', 'backward', 'optimizer']);
  checkOps(events);
  checkTable(stdout);
});

test('--profile on evaluate: generation\'s ops in a well-formed trace, the table, the summary still last', () => {
  const { events, stdout } = profiledRun('evaluate', ['--model', modelDir, '--harmful', rowsFile('prompts.jsonl', [{ prompt: 'hello world' }]),
    '--task', 'sst2', '--eval', sst2, '--limit', '2', '--max-new-tokens', '3', '--backend', 'wasm', '--threads', '1'], 'evaluate');
  assert.ok(ops(events, 'matmul').length > 0 && ops(events, 'attention').length > 0, 'the decoder\'s ops are traced');
  checkTable(stdout, false); // evaluation has no training step: no phases
  const lines = stdout.trim().split('\n');
  assert.ok('harmful_score' in JSON.parse(lines[lines.length - 1]), 'the summary is still the last line');
});

const gpu = await webgpuBackend();
if (gpu) {
  test('--profile, Vaccine on WebGPU: phases and ops as on WASM, and every dispatch\'s GPU timestamps', () => {
    const { events, stdout, otherData } = profiledRun('webgpu-vaccine', ['--method', 'vaccine', '--backend', 'webgpu']);
    checkSteps(events, VACCINE);
    checkOps(events);
    assert.is(otherData.timeSource, 'GPU timestamps per dispatch');
    const g = events.filter((e) => e.cat === 'gpu');
    assert.ok(g.length > 100, `GPU dispatches in the trace (${g.length})`);
    for (const label of ['matmul', 'attention', 'attention_backward_dq', 'adamw']) assert.ok(g.some((e) => e.name === label), `GPU kernel '${label}'`);
    assert.ok(g.every((e) => typeof (e.args as { op?: unknown }).op === 'string'), 'each dispatch names the op that recorded it');
    assert.ok(g.some((e) => e.dur! > 0), 'GPU durations are measured');
    checkTable(stdout);
  });
}

test.run();
