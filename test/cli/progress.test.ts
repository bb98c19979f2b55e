// The progress display every command shares (runtime/progress.ts). In-process with a fake clock:
// plain lines (the first, about 25 by count, at least one every --log-every-s, the last), the
// terminal bar (fields, cut to the width, a line printed above it), and the timer's line while a
// step runs with the event loop free. Then as users see it, without screenshots: align, generate
// and evaluate in a pseudo-terminal (util-linux's `script -qc`), the captured bytes checked for
// every field; and a plain run (stdout a pipe) of a million steps, whose lines arrive at least every
// --log-every-s seconds whatever the step count.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProgressDisplay, type ProgressState } from '../../runtime/progress.ts';
import { ALIGN, buildOnce, FAST, GENERATE, root, writeRows, writeTinyModel } from './helpers.ts';

const state = (done: number, total: number, elapsed = done): ProgressState => ({
  unit: 'step', done, total, fields: [`loss ${(1 / done).toFixed(4)}`], elapsed_s: elapsed, eta_s: (total - done) * (elapsed / done),
});

/** A display writing into an array, on a clock the test moves. */
function fake(mode: 'plain' | 'tty', o: { logEveryS?: number; columns?: number } = {}) {
  const writes: string[] = [];
  let clock = 0;
  const d = new ProgressDisplay(mode, { write: (t) => writes.push(t), now: () => clock, logEveryS: o.logEveryS ?? 10, columns: () => o.columns });
  return { d, writes, tick: (ms: number) => { clock += ms; }, lines: () => writes.join('').split('\n').filter(Boolean) };
}

test('plain: the first update, about 25 by count, and the last', () => {
  const f = fake('plain');
  for (let s = 1; s <= 100; s++) { f.tick(10); f.d.update(state(s, 100)); }
  f.d.end();
  const steps = f.lines().map((l) => Number(/^step (\d+)\/100 /.exec(l)![1]));
  assert.equal(steps, [1, ...Array.from({ length: 25 }, (_, i) => 4 * (i + 1))]);
  assert.match(f.lines()[0], /^step 1\/100 loss 1\.0000 elapsed 0:01 eta 1:39$/);
});

test('plain: at least one line every logEveryS seconds, whatever the step count', () => {
  const f = fake('plain', { logEveryS: 10 });
  const at: number[] = [];
  let t = 0;
  for (let s = 1; s <= 200; s++) {
    f.tick(3000); t += 3;
    const before = f.writes.length;
    f.d.update(state(s, 1_000_000, t));
    if (f.writes.length > before) at.push(t);
  }
  // 3 s steps, a count rule of one line per 40000 steps: the first step, then every 4th step (12 s >= 10 s)
  assert.is(at[0], 3);
  for (let i = 1; i < at.length; i++) assert.is(at[i] - at[i - 1], 12);
  assert.is(at.length, 50);
});

test('tty: the bar with its fields, redrawn in place, about ten kept as lines; a line goes above the bar; cut to the width', () => {
  const f = fake('tty');
  for (let s = 1; s <= 20; s++) {
    f.tick(200);
    f.d.update(state(s, 20));
    if (s === 5) f.d.line('checkpoint saved: out/checkpoint-5 (step 5)');
  }
  f.d.end();
  const text = f.writes.join('');
  assert.match(text, /\r\[#{6}-{18}\] step 5\/20 loss 0\.2000 elapsed 0:05 ETA 0:15\x1b\[K/);
  assert.match(text, /\r\x1b\[Kcheckpoint saved: out\/checkpoint-5 \(step 5\)\n\[#{6}-{18}\] step 5\/20 /);
  // steps 2, 4, ..., 20 end their line (every ceil(20 / 10) steps)
  assert.is(text.split('\n').length - 1, 11);
  assert.ok(text.endsWith('step 20/20 loss 0.0500 elapsed 0:20 ETA 0:00\x1b[K\n'));
  // a narrow terminal: the bar goes, then the text is cut (a wrapped line would break the redraw)
  const narrow = fake('tty', { columns: 40 });
  narrow.d.update(state(3, 20));
  assert.equal(narrow.writes, ['\rstep 3/20 loss 0.3333 elapsed 0:03 ETA \x1b[K', '\n']);
  const wide = fake('tty', { columns: 80 });
  wide.d.update(state(3, 20));
  assert.equal(wide.writes, ['\r[####--------------------] step 3/20 loss 0.3333 elapsed 0:03 ETA 0:17\x1b[K', '\n']);
  const mid = fake('tty', { columns: 60 });
  mid.d.update(state(3, 20));
  assert.equal(mid.writes, ['\rstep 3/20 loss 0.3333 elapsed 0:03 ETA 0:17\x1b[K', '\n']);
});

test('plain: while a step runs with the event loop free, the timer prints a line at least every logEveryS seconds', async () => {
  const writes: string[] = [];
  const d = new ProgressDisplay('plain', { write: (t) => writes.push(t), logEveryS: 0.2 });
  d.update(state(1, 10));
  await new Promise((r) => setTimeout(r, 750));
  d.end();
  const n = writes.length;
  await new Promise((r) => setTimeout(r, 300));
  assert.is(writes.length, n, 'end() stops the timer');
  const running = writes.filter((w) => /^step 2\/10 running for 0:00 elapsed 0:01\n$/.test(w));
  assert.ok(running.length >= 2 && running.length <= 4, JSON.stringify(writes));
});

// ---- the commands, as users run them ----
buildOnce();
const work = mkdtempSync(join(tmpdir(), 'progress-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const modelDir = join(work, 'model');
writeTinyModel(modelDir);
const dataPath = writeRows(join(work, 'data.jsonl'));

/** Runs a shell command line in a pseudo-terminal (util-linux's script, in Debian's bsdutils); the bytes it printed. */
function inTerminal(command: string): string {
  try {
    return execFileSync('script', ['-qec', command, '/dev/null'], { cwd: root, encoding: 'utf8', timeout: 180_000, env: { ...process.env, COLUMNS: '300' } });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stdout?: string };
    if (err.code === 'ENOENT') throw new Error('`script` (util-linux, Debian package bsdutils) is needed for the terminal tests: apt-get install bsdutils');
    throw new Error(`${command}: ${err.message}\n${err.stdout ?? ''}`);
  }
}

test('align in a terminal: the bar shows step/total, epoch, lr, loss, perturbed loss, tok/s, elapsed and ETA; a line per checkpoint', () => {
  const out = join(work, 'tty-align');
  const text = inTerminal(`stty cols 300; node ${ALIGN} --model ${modelDir} --data ${dataPath} --out ${out} ${FAST.join(' ')} --max-steps 12 --save-every 5 --method vaccine`);
  const bar = /\r\[[#-]{24}\] step (\d+)\/12 epoch \d+\.\d\d lr \d\.\d\de[+-]\d+ loss \d+\.\d{4} perturbed \d+\.\d{4} \d+ tok\/s elapsed \d+:\d\d ETA \d+:\d\d\x1b\[K/g;
  const steps = [...text.matchAll(bar)].map((m) => Number(m[1]));
  assert.ok(steps.includes(1) && steps.includes(12), `bars for steps ${steps.join(',')}:\n${JSON.stringify(text)}`);
  assert.match(text, /checkpoint saved: \S+checkpoint-5 \(step 5\)\r?\n/);
  assert.match(text, /checkpoint saved: \S+checkpoint-10 \(step 10\)\r?\n/);
  assert.match(text, /adapter saved to /);
  // SFT has no perturbed loss: the field is absent, the others stay
  const sft = inTerminal(`stty cols 300; node ${ALIGN} --model ${modelDir} --data ${dataPath} --out ${join(work, 'tty-sft')} ${FAST.join(' ')} --max-steps 3 --method sft`);
  assert.match(sft, /\r\[#{24}\] step 3\/3 epoch \d+\.\d\d lr \d\.\d\de[+-]\d+ loss \d+\.\d{4} \d+ tok\/s elapsed \d+:\d\d ETA 0:00\x1b\[K/);
  assert.not.match(sft, /perturbed/);
});

test('generate with its output in a file and stderr in a terminal: the bar on stderr shows prompts done, tokens, tok/s, elapsed and ETA', () => {
  const file = join(work, 'generated.txt');
  const text = inTerminal(`stty cols 300; node ${GENERATE} --model ${modelDir} --template none --max-new-tokens 100 --backend wasm --threads 1 --prompt hello --prompt world --prompt 'hello world' --batch-size 1 > ${file}`);
  assert.match(text, /\r\[[#-]{24}\] prompt \d\/3 \d+ tokens \d+ tok\/s elapsed \d+:\d\d ETA (\d+:\d\d|--:--)\x1b\[K/);
  assert.match(text, /\r\[#{24}\] prompt 3\/3 \d+ tokens \d+ tok\/s elapsed \d+:\d\d ETA 0:00\x1b\[K/);
  assert.match(readFileSync(file, 'utf8'), /^--- 1\/3 \(--prompt 1\) ---\n/);
});

test('evaluate in a terminal: the same bar over the answers of every set (the set under way as a field), elapsed and ETA', () => {
  const prompts = join(work, 'prompts.jsonl');
  writeFileSync(prompts, Array.from({ length: 12 }, (_, i) => JSON.stringify({ prompt: `hello world ${i}` })).join('\n') + '\n');
  const text = inTerminal(`stty cols 300; node ${join(root, 'runtime/evaluate.js')} --model ${modelDir} --harmful ${prompts} --harmless ${prompts} `
    + `--max-new-tokens 4 --batch-size 2 --backend wasm --threads 1 --out ${join(work, 'eval.json')}`);
  assert.match(text, /\r\[[#-]{24}\] answer \d+\/24 harmful \d+\/12 elapsed \d+:\d\d ETA \d+:\d\d\x1b\[K/);
  assert.match(text, /\r\[#{24}\] answer 24\/24 harmless 12\/12 elapsed \d+:\d\d ETA 0:00\x1b\[K/);
  assert.match(text, /results written to /);
});

test('plain (stdout a pipe): a run of a million steps prints a line at least every --log-every-s seconds', async () => {
  const out = join(work, 'plain');
  const p = spawn(process.execPath, [ALIGN, '--model', modelDir, '--data', dataPath, '--out', out, ...FAST, '--max-steps', '1000000', '--log-every-s', '1', '--method', 'sft'],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const at: { t: number; step: number }[] = [];
  let buf = '', stderr = '', sent = false;
  const t0 = performance.now();
  p.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const m = /^step (\d+)\/1000000 epoch /.exec(line);
      if (m) at.push({ t: (performance.now() - t0) / 1000, step: Number(m[1]) });
      if (at.length >= 6 && !sent) { sent = true; p.kill('SIGTERM'); }
    }
  });
  p.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise((r) => p.on('close', (c) => r(c)));
  assert.is(code, 143, stderr);
  assert.ok(at.length >= 6, JSON.stringify(at));
  assert.is(at[0].step, 1);
  // a count rule alone (one line per 40000 steps) would have printed only step 1 by now
  assert.ok(at[5].step < 40000, `step ${at[5].step}`);
  for (let i = 2; i < at.length; i++) {
    const gap = at[i].t - at[i - 1].t;
    // at least every second, give or take one step and the machine's load; never much more often
    assert.ok(gap <= 2.0 && gap >= 0.8, `lines ${i - 1} and ${i}: ${gap.toFixed(2)} s apart (${JSON.stringify(at)})`);
  }
});

test.run();
