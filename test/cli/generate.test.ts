// `node runtime/generate.js` as users run it, against the library: the command's tokens (--json)
// are the library's generate() tokens and those of the model layer driven by hand (the adapters
// merged with mergeAdapters, in order), and generateOn() on one session gives the one-shot call's;
// the text streamed to stdout is their decoded text. On the
// golden tiny Llama with its PEFT adapter (test/fixtures: runs everywhere), and on llama2.c's
// stories260K where ../shared/data has it: greedy from BOS gives the documented text, and an
// adapter trained here on one row gives that row's answer. Bad input: one line, exit 2. A closed
// stdout stops generation quietly; Ctrl-C stops it with the text so far.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mergeAdapters } from '../../engine/adapter.ts';
import { align } from '../../engine/jobs/align.ts';
import { generate, generateOn } from '../../engine/jobs/generate.ts';
import { Session } from '../../engine/jobs/session.ts';
import { generate as generateTokens } from '../../engine/model/generate.ts';
import { loadModel } from '../../engine/model/load.ts';
import { buildModel } from '../../engine/model/registry.ts';
import { openTokenizer } from '../../engine/tokenizer/load.ts';
import { DATA_DIR, wasmBackend } from '../helpers.ts';
import { buildOnce, GENERATE, inBatches, root, runScript, writeTinyModel } from './helpers.ts';

buildOnce();
const work = mkdtempSync(join(tmpdir(), 'generate-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const GOLDEN = join(root, 'test/fixtures/golden');
const ADAPTER = join(GOLDEN, 'adapter');
const TOKENIZER = join(root, 'test/fixtures/hf-tiny-tokenizer/tokenizer.json');
const WASM = ['--backend', 'wasm', '--threads', '1'];
const jsonLines = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l));
// a tiny random Llama with a context of 256 (the golden model's 64 holds no Alpaca prompt) and the same tokenizer
const TINY = join(work, 'tiny');
writeTinyModel(TINY);

/** The model layer by hand: the model built, `adapters` merged in order, greedy tokens for each prompt's ids. */
async function byHand(modelPath: string, adapters: string[], prompts: number[][], maxNewTokens: number): Promise<number[][]> {
  const be = await wasmBackend();
  const { config, weights } = loadModel(modelPath);
  const model = buildModel(be, config, weights);
  try {
    mergeAdapters(model, adapters);
    return await generateTokens(model, prompts, { maxNewTokens, stopAtEos: true });
  } finally {
    model.dispose();
  }
}

test('golden model: --json tokens = generate() = the model layer by hand, without an adapter, with one, with two merged in order', async () => {
  const tok = openTokenizer(TOKENIZER);
  const prompts = ['hello world', 'hello', 'world hello world'];
  const ids = prompts.map((p) => tok.encode(p, { bos: true }));
  const base = ['--model', GOLDEN, '--tokenizer', TOKENIZER, '--template', 'none', '--max-new-tokens', '12', ...WASM, '--json', '--batch-size', '2', ...prompts.flatMap((p) => ['--prompt', p])];
  const seen: number[][][] = [];
  for (const adapters of [[], [ADAPTER], [ADAPTER, ADAPTER]]) {
    const r = await runScript(GENERATE, [...base, ...adapters.flatMap((a) => ['--adapter', a])]);
    assert.is(r.code, 0, r.stderr);
    const events = jsonLines(r.stdout);
    assert.equal(events.filter((e) => e.event === 'log').map((e) => e.message), adapters.map((a) => `merged adapter ${a} into the base weights`));
    assert.equal(events.map((e) => e.event).filter((e) => e !== 'log'), ['start', 'completion', 'completion', 'completion', 'done']);
    assert.equal(events.find((e) => e.event === 'start').adapters, adapters);
    const cli = events.filter((e) => e.event === 'completion').sort((a, b) => a.index - b.index);
    assert.equal(cli.map((c) => c.prompt_text), prompts);
    const lib = await generate({ model: GOLDEN, tokenizer: TOKENIZER, adapter: adapters, prompt: prompts, template: 'none', maxNewTokens: 12, backend: 'wasm', threads: 1 });
    const hand = await byHand(GOLDEN, adapters, ids, 12);
    assert.equal(cli.map((c) => c.tokens), hand, `adapters ${adapters.length}: the command's tokens`);
    assert.equal(lib.completions.map((c) => c.tokens), hand, `adapters ${adapters.length}: generate()'s tokens`);
    assert.equal(cli.map((c) => c.text), hand.map((t) => tok.decode(t)));
    assert.ok(cli.every((c) => c.stop === 'length' || c.stop === 'eos'));
    seen.push(hand);
  }
  assert.not.equal(seen[1], seen[0], 'the adapter changes the text');
  assert.not.equal(seen[2], seen[1], 'a second merge changes it again');

  // the text mode: each prompt under its header, in prompt order, its decoded tokens
  const r = await runScript(GENERATE, [...base.filter((a) => a !== '--json'), '--adapter', ADAPTER]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, prompts.map((p, i) => `--- ${i + 1}/3 (--prompt ${i + 1}) ---\n${tok.decode(seen[1][i])}\n`).join('\n'));
  assert.match(r.stderr, /^generate: .*golden \+ .*adapter on WebAssembly.*: 3 prompts, up to 12 new tokens, greedy\n/m);
  assert.match(r.stderr, /^generate: 3 prompts, \d+ new tokens in \d+\.\d s \(\d+\.\d tok\/s\)\n$/m);
});

test('generateOn: on one session (the model uploaded once), with an adapter, then without, then two: the one-shot generate()\'s tokens', async () => {
  const be = await wasmBackend();
  const session = await Session.open({ model: GOLDEN, tokenizer: TOKENIZER, backend: be, keepHostWeights: true });
  try {
    const o = { prompt: ['hello world', 'world'], template: 'none' as const, maxNewTokens: 10 };
    for (const adapter of [[ADAPTER], [], [ADAPTER, ADAPTER]]) {
      const on = await generateOn(session, { ...o, adapter });
      const once = await generate({ ...o, adapter, model: GOLDEN, tokenizer: TOKENIZER, backend: 'wasm', threads: 2 });
      assert.equal(on.completions.map((c) => c.tokens), once.completions.map((c) => c.tokens), `adapters ${adapter.length}`);
      assert.equal(session.merged, adapter);
    }
    await generateOn(session, { ...o, model: GOLDEN }).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /^generateOn: model is the session's/));
  } finally {
    await session.close();
  }
});

test('--prompts FILE ({prompt} and Alpaca rows) with the Alpaca template; sampled with --top-p: the same tokens as generate()', async () => {
  const file = join(work, 'prompts.jsonl');
  writeFileSync(file, [{ prompt: 'hello' }, { instruction: 'world', input: 'hello' }, { instruction: 'hello world' }].map((r) => JSON.stringify(r)).join('\n') + '\n');
  const opts = ['--temperature', '0.9', '--top-p', '0.7', '--seed', '5'];
  const r = await runScript(GENERATE, ['--model', TINY, '--prompts', file, '--max-new-tokens', '8', ...WASM, '--json', ...opts]);
  assert.is(r.code, 0, r.stderr);
  const cli = jsonLines(r.stdout).filter((e) => e.event === 'completion').sort((a, b) => a.index - b.index);
  assert.equal(cli.map((c) => c.source), [`${file}:1`, `${file}:2`, `${file}:3`]);
  assert.match(cli[1].prompt_text, /### Instruction:\nworld\n\n### Input:\nhello\n\n### Response:$/);
  assert.match(cli[0].prompt_text, /### Instruction:\nhello\n\n### Response:$/);
  const lib = await generate({ model: TINY, prompts: file, maxNewTokens: 8, backend: 'wasm', threads: 1, temperature: 0.9, topP: 0.7, seed: 5 });
  assert.equal(cli.map((c) => c.tokens), lib.completions.map((c) => c.tokens));
  // prompt i draws from seed + i whatever the batch
  const one = await generate({ model: TINY, prompts: file, maxNewTokens: 8, backend: 'wasm', threads: 1, temperature: 0.9, topP: 0.7, seed: 5, batchSize: 1 });
  assert.equal(one.completions.map((c) => c.tokens), lib.completions.map((c) => c.tokens));
  const greedy = await generate({ model: TINY, prompts: file, maxNewTokens: 8, backend: 'wasm', threads: 1 });
  assert.not.equal(lib.completions.map((c) => c.tokens), greedy.completions.map((c) => c.tokens), 'sampling changes the tokens');
});

test('bad input: one line on stderr, exit 2, nothing generated', async () => {
  const long = join(work, 'long.jsonl');
  writeFileSync(long, JSON.stringify({ prompt: 'hello '.repeat(80) }) + '\n');
  const bad = join(work, 'bad.jsonl');
  writeFileSync(bad, '{"prompt": "hello"}\n{"text": 3}\n');
  const M = ['--model', GOLDEN, '--tokenizer', TOKENIZER, ...WASM];
  const cases: [string[], RegExp][] = [
    [['--prompt', 'x'], /^generate: no model given \(--model PATH\)$/],
    [[...M, '--prompt', 'x', '--prompts', bad], /^generate: give --prompt or --prompts, not both$/],
    [[...M, '--prompts', bad], /bad\.jsonl.*line 2.*missing field "prompt"/],
    [[...M, '--prompts', join(work, 'none.jsonl')], /^generate: prompts file not found: /],
    [[...M, '--prompts', long], /long\.jsonl:1: the prompt has \d+ tokens, which leaves no room in the model's context of 64$/],
    [[...M, '--adapter', join(work, 'nope')], /^generate: --adapter: adapter directory not found: /],
    [[...M, '--adapter', GOLDEN], /adapter/],
    [[...M, '--top-p', '0'], /^generate: --top-p must be a number in \(0, 1\], got 0$/],
    [[...M, '--temperature', '-1'], /^generate: --temperature must be a number >= 0, got -1$/],
    [[...M, '--max-new-tokens', '0'], /^generate: --max-new-tokens must be an integer in 1\.\.1000000, got 0$/],
    [[...M, '--template', 'chatml'], /^generate: --template must be one of alpaca, none, got 'chatml'$/],
    [[...M, '--prompt'], /^generate: --prompt needs a value \(see --help\)$/],
  ];
  const results = await inBatches(cases, 4, ([args]) => runScript(GENERATE, args));
  cases.forEach(([args, want], i) => {
    const r = results[i];
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.match(r.stderr.trim(), want);
    assert.is(r.stdout, '', 'nothing generated');
  });
});

/** Starts generate.js with stdout and stderr piped; resolves at its end. */
function start(args: string[]) {
  const p = spawn(process.execPath, [GENERATE, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  p.stdout.on('data', (d) => { stdout += d; });
  p.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((r) => {
    const t0 = performance.now();
    p.on('close', (code, signal) => r({ code, signal, ms: performance.now() - t0 }));
  });
  return { p, done, out: () => stdout, err: () => stderr };
}

// Many prompts, each to the context's end (about 250 tokens): long enough that stopping early shows.
const rows = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ prompt: `hello ${'world '.repeat(i % 5)}` })).join('\n') + '\n';
const MANY = join(work, 'many.jsonl');
writeFileSync(MANY, rows(4000));
const LONG_RUN = ['--model', TINY, '--prompts', MANY, '--template', 'none', '--max-new-tokens', '1000', ...WASM];

test('stdout closed by its reader (| head): generation stops, exit 0, no error and no closing line', async () => {
  // a tenth of the prompts, run to the end, for scale
  const tenth = join(work, 'tenth.jsonl');
  writeFileSync(tenth, rows(400));
  const full = start([...LONG_RUN.map((a) => (a === MANY ? tenth : a)), '--quiet']);
  const f = await full.done;
  assert.is(f.code, 0, full.err());
  const run = start(LONG_RUN);
  run.p.stdout.once('data', () => run.p.stdout.destroy()); // the reader goes after the first text
  const r = await run.done;
  assert.is(r.code, 0, run.err());
  assert.match(run.err(), /^generate: .* 4000 prompts/);
  assert.not.match(run.err(), /error|EPIPE|failed|new tokens in/i);
  // the whole run takes about ten times the tenth: it stopped long before
  assert.ok(r.ms < f.ms, `ran ${r.ms.toFixed(0)} ms in all (a tenth of the prompts to the end: ${f.ms.toFixed(0)} ms)`);
});

test('Ctrl-C: generation stops after the current token, the text so far is printed, exit 130', async () => {
  const run = start(LONG_RUN);
  run.p.stdout.once('data', () => run.p.kill('SIGINT'));
  const r = await run.done;
  assert.is(r.code, 130, run.err());
  assert.match(run.err(), /generate: SIGINT: stopping after the current token \(Ctrl-C again exits at once\)/);
  assert.match(run.err(), /^generate: 4000 prompts, \d+ new tokens in .*: interrupted$/m);
  assert.match(run.out(), /^--- 1\/4000 \(.*many\.jsonl:1\) ---\n/);
});

// ---- stories260K (../shared/data) ----
const S_MODEL = join(DATA_DIR, 'models', 'stories260K', 'stories260K.bin');
const S_TOK = join(DATA_DIR, 'models', 'stories260K', 'tok512.bin');
// ../shared/data/README.md's greedy text from BOS (as test/model/stories260k.test.ts)
const DOCUMENTED = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. '
  + 'One day, she saw a big, red ball. She wanted to play with it, but it was too high';
if (!existsSync(S_MODEL) || !existsSync(S_TOK)) console.warn(`generate: ${S_MODEL} not found: the stories260K tests are not run`);
else {
  const S = ['--model', S_MODEL, '--tokenizer', S_TOK, ...WASM];

  test('stories260K: greedy from BOS prints the documented text; --json gives the library\'s tokens', async () => {
    const tok = openTokenizer(S_TOK);
    const want = tok.encode(DOCUMENTED).slice(0, 40);
    const r = await runScript(GENERATE, [...S, '--max-new-tokens', '40']);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, tok.decode(want) + '\n');
    assert.ok(r.stdout.startsWith('Once upon a time, there was a little girl named Lily. She loved to play outside in the park.'), r.stdout);
    assert.ok(DOCUMENTED.startsWith(r.stdout.trimEnd()));
    const j = await runScript(GENERATE, [...S, '--max-new-tokens', '40', '--json']);
    const c = jsonLines(j.stdout).find((e) => e.event === 'completion');
    assert.equal(c.tokens, want);
    assert.is(c.source, 'BOS');
    const lib = await generate({ model: S_MODEL, tokenizer: S_TOK, maxNewTokens: 40, backend: 'wasm', threads: 1 });
    assert.equal(lib.completions[0].tokens, want);
  });

  test('stories260K with an adapter trained here on one row: the adapter\'s answer, the same tokens as the library', async () => {
    const answer = 'Max is a big brown dog. He likes to run.';
    const out = join(work, 'max-adapter');
    await align({
      model: S_MODEL, tokenizer: S_TOK, data: [{ instruction: 'Tell me about Max.', output: answer }], out, method: 'sft',
      maxSteps: 60, lr: 3e-2, batchSize: 1, loraDropout: 0, scheduler: 'constant', backend: 'wasm', threads: 1,
    });
    const args = [...S, '--prompt', 'Tell me about Max.', '--max-new-tokens', '30'];
    const base = await runScript(GENERATE, args);
    const tuned = await runScript(GENERATE, [...args, '--adapter', out]);
    assert.is(tuned.code, 0, tuned.stderr);
    assert.ok(tuned.stdout.startsWith(answer), `with the adapter: ${JSON.stringify(tuned.stdout)}`);
    assert.not.ok(base.stdout.startsWith('Max is'), `without: ${JSON.stringify(base.stdout)}`);
    const j = await runScript(GENERATE, [...args, '--adapter', out, '--json']);
    const c = jsonLines(j.stdout).find((e) => e.event === 'completion');
    const lib = await generate({ model: S_MODEL, tokenizer: S_TOK, adapter: [out], prompt: 'Tell me about Max.', maxNewTokens: 30, backend: 'wasm', threads: 1 });
    assert.equal(c.tokens, lib.completions[0].tokens);
    assert.is(tuned.stdout, lib.completions[0].text + '\n');
  });
}

test.run();
