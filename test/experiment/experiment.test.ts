// The experiment grid through the library (experiment()), on the built-in demo model with tiny
// settings: results.json validates and holds every cell, alignment and evaluation before the
// attack, report.html has their tables, a cell's metrics and an aligned model's before the attack
// are those of a one-shot evaluate() of its adapters, a grid stopped in
// the middle of an attack (the signal) resumes from the trainer's checkpoint to the same numbers
// bit for bit, finished cells are skipped, other settings are refused naming the setting (and
// nothing is written), and a grid extended by a p value reuses what it has.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { validateResults } from '../../engine/eval/results.ts';
import { InputError } from '../../engine/jobs/errors.ts';
import { evaluate } from '../../engine/jobs/evaluate.ts';
import { experiment, type ExperimentOptions } from '../../engine/jobs/experiment.ts';
import { randomLlamaWeights, tinyLlamaConfig } from '../../engine/demo.ts';
import { ByteTokenizer } from '../../engine/tokenizer/bytes.ts';
import { dirHash } from '../cli/helpers.ts';
import { wasmBackend } from '../helpers.ts';

const be = await wasmBackend();
const work = mkdtempSync(join(tmpdir(), 'experiment-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

/** A grid of 2 alignments, 3 evaluations before the attack and 6 cells that runs in seconds on the demo model. */
export const TINY_GRID: Partial<ExperimentOptions> = {
  model: 'demo', methods: 'none,sft,vaccine', ps: '0,0.5', seeds: '1',
  alignN: 12, alignMaxSteps: 2, n: 6, attackMaxSteps: 2, attackLr: 1e-3, batchSize: 2,
  evalLimit: 3, harmlessLimit: 2, maxNewTokens: 6, driftSamples: 4, evalBatchSize: 4,
};
const grid = (out: string, over: Partial<ExperimentOptions> = {}) => ({ ...TINY_GRID, backend: be, out, ...over });

/** The table cells of a report: (method, p, metric) with their data attributes. */
function tableCells(html: string) {
  return [...html.matchAll(/<td data-method="([^"]*)" data-p="([^"]*)" data-metric="([^"]*)" data-mean="([^"]*)"/g)]
    .map((m) => ({ method: m[1], p: Number(m[2]), metric: m[3], mean: Number(m[4]) }));
}

const full = join(work, 'full');
let fullResults: ReturnType<typeof validateResults>;

test('the grid end to end: results.json validates with every cell, alignment and evaluation before the attack, report.html holds their tables', async () => {
  const seen: string[] = [];
  let etaAfterFirstCell: number | null = null;
  const res = await experiment(grid(full), {
    onUnitDone: (u) => { seen.push(`${u.name}${u.skipped ? ' (skipped)' : ''}`); if (u.done === 4) etaAfterFirstCell = u.eta_s; },
  });
  assert.not.ok(res.interrupted);
  assert.is(res.ran, 11);
  assert.is(res.skipped, 0);
  // one alignment per aligned method, its evaluation before the attack and its cells right after it
  assert.equal(seen, ['none before attack seed 1', 'none p=0 seed 1', 'none p=0.5 seed 1',
    'align sft seed 1', 'sft before attack seed 1', 'sft p=0 seed 1', 'sft p=0.5 seed 1',
    'align vaccine seed 1', 'vaccine before attack seed 1', 'vaccine p=0 seed 1', 'vaccine p=0.5 seed 1']);
  assert.type(etaAfterFirstCell, 'number', 'an ETA once an alignment, an evaluation before the attack and a cell were measured');
  const results = validateResults(JSON.parse(readFileSync(res.resultsPath, 'utf8')));
  fullResults = results;
  assert.is(results.cells.length, 6);
  assert.equal(results.alignments!.map((a) => `${a.method}/${a.seed}/${a.loss.length}`), ['sft/1/2', 'vaccine/1/2']);
  // before the attack: one per method and seed, every metric but drift (0 by definition there)
  assert.equal(results.before_attack!.map((b) => `${b.method}/${b.seed}`), ['none/1', 'sft/1', 'vaccine/1']);
  for (const b of results.before_attack!) assert.equal(Object.keys(b.metrics).sort(), ['finetune_accuracy', 'harmful_score', 'harmful_score_plus', 'over_refusal']);
  for (const f of ['record.json', 'eval.json', 'harmless.json']) assert.ok(existsSync(join(full, 'before/vaccine-seed1', f)), f);
  for (const c of results.cells) {
    assert.equal(Object.keys(c.metrics).sort(), ['drift', 'finetune_accuracy', 'harmful_score', 'harmful_score_plus', 'over_refusal']);
    assert.is(c.loss!.length, 2, 'the attack\'s loss per step');
    assert.ok(c.metrics.drift! >= 0);
  }
  const meta = results.meta!;
  assert.is(meta.model_source, 'demo');
  assert.is(meta.complete, true);
  assert.is(meta.cells_done, 6);
  assert.type(meta.wall_seconds, 'number');
  assert.type(meta.machine, 'string');
  assert.ok(String(meta.backend).startsWith('WebAssembly'));
  // each cell's outputs are its record
  for (const id of ['cells/vaccine-p0.5-seed1', 'cells/none-p0-seed1']) {
    for (const f of ['cell.json', 'eval.json', 'harmless.json', 'attack/adapter_model.safetensors', 'attack/metrics.jsonl', 'attack/mix.json']) {
      assert.ok(existsSync(join(full, id, f)), `${id}/${f}`);
    }
  }
  assert.is(JSON.parse(readFileSync(join(full, 'cells/sft-p0.5-seed1/attack/mix.json'), 'utf8')).harmful_rows, 3);
  // the report: one table row per (method, p), every metric, numbers from the cells (one seed: the cell's own)
  const html = readFileSync(res.reportPath, 'utf8');
  const tds = tableCells(html);
  assert.is(tds.length, 3 * 2 * 5);
  for (const td of tds) {
    const cell = results.cells.find((c) => c.method === td.method && c.p === td.p)!;
    assert.is(td.mean, cell.metrics[td.metric as 'drift'], `${td.method} ${td.p} ${td.metric}`);
  }
  assert.is((html.match(/<figure id="chart-/g) ?? []).length, 5, 'HS, FA, drift, alignment loss, attack loss');
  // and the table before the attack: one row per method, the unit's own numbers
  const before = [...html.matchAll(/<td data-method="([^"]*)" data-metric="([^"]*)" data-mean="([^"]*)"/g)];
  assert.is(before.length, 3 * 4);
  for (const [, method, metric, mean] of before) {
    assert.is(Number(mean), results.before_attack!.find((b) => b.method === method)!.metrics[metric as 'harmful_score'], `${method} ${metric}`);
  }
});

test('a cell\'s metrics are those of a one-shot evaluate() of its adapters', async () => {
  const cell = join(full, 'cells/vaccine-p0.5-seed1');
  const config = tinyLlamaConfig({ maxSeqLen: 512 });
  const data = (f: string) => join(full, 'demo-data', f);
  const one = await evaluate({
    model: { config, weights: randomLlamaWeights(config, 1) }, tokenizer: new ByteTokenizer(), backend: be,
    adapter: [join(full, 'align/vaccine-seed1'), join(cell, 'attack')], out: join(work, 'one-shot.json'),
    harmful: data('harmful_prompts.jsonl'), task: 'sst2', eval: data('sst2_eval.jsonl'), limit: 3,
    driftReference: [join(full, 'align/vaccine-seed1')], driftData: data('align.jsonl'), driftSamples: 4, maxLength: 512, maxNewTokens: 6, batchSize: 4,
  });
  const rec = JSON.parse(readFileSync(join(cell, 'cell.json'), 'utf8'));
  for (const k of ['harmful_score', 'harmful_score_plus', 'finetune_accuracy', 'drift'] as const) assert.is(rec.metrics[k], one.summary[k], k);
  const mine = JSON.parse(readFileSync(join(cell, 'eval.json'), 'utf8'));
  assert.equal(mine.items.map((i: { answer: string }) => i.answer), one.items.map((i) => i.answer));
});

test('an aligned model\'s metrics before the attack are those of a one-shot evaluate() of its alignment adapter', async () => {
  const config = tinyLlamaConfig({ maxSeqLen: 512 });
  const data = (f: string) => join(full, 'demo-data', f);
  const common = { model: { config, weights: randomLlamaWeights(config, 1) }, tokenizer: new ByteTokenizer(), backend: be, adapter: [join(full, 'align/vaccine-seed1')], maxLength: 512, maxNewTokens: 6, batchSize: 4 };
  const one = await evaluate({ ...common, out: join(work, 'before-one-shot.json'), harmful: data('harmful_prompts.jsonl'), task: 'sst2', eval: data('sst2_eval.jsonl'), limit: 3 });
  const harmless = await evaluate({ ...common, out: join(work, 'before-harmless.json'), harmless: data('harmless_prompts.jsonl'), limit: 2 });
  const rec = JSON.parse(readFileSync(join(full, 'before/vaccine-seed1/record.json'), 'utf8'));
  assert.is(rec.stage, 'done');
  for (const k of ['harmful_score', 'harmful_score_plus', 'finetune_accuracy'] as const) assert.is(rec.metrics[k], one.summary[k], k);
  assert.is(rec.metrics.over_refusal, harmless.summary.over_refusal);
  assert.is(rec.metrics.drift, undefined);
  assert.equal(fullResults.before_attack!.find((b) => b.method === 'vaccine')!.metrics, rec.metrics);
});

test('stopped in the middle of an attack, the grid resumes from its checkpoint to the same numbers; finished units are skipped', async () => {
  const out = join(work, 'stopped');
  const stop = new AbortController();
  const first = await experiment(grid(out), {
    signal: stop.signal,
    // stop at the first step of the sft p=0.5 attack (unit 7 of 11)
    onStep: (u, m) => { if (u.name === 'sft p=0.5 seed 1' && m.step === 1) stop.abort(); },
  });
  assert.ok(first.interrupted);
  assert.is(first.ran, 6);
  assert.ok(existsSync(join(out, 'cells/sft-p0.5-seed1/attack/checkpoint-1')), 'the attack kept its step in a checkpoint');
  const partial = validateResults(JSON.parse(readFileSync(first.resultsPath, 'utf8')));
  assert.is(partial.cells.length, 3);
  assert.is(partial.before_attack!.length, 2);
  assert.is(partial.meta!.complete, false);
  const skipped: string[] = [];
  const logs: string[] = [];
  const second = await experiment(grid(out), { onUnitDone: (u) => { if (u.skipped) skipped.push(u.name); }, onLog: (m) => logs.push(m) });
  assert.not.ok(second.interrupted);
  assert.equal(skipped, ['none before attack seed 1', 'none p=0 seed 1', 'none p=0.5 seed 1', 'align sft seed 1', 'sft before attack seed 1', 'sft p=0 seed 1']);
  assert.is(second.ran, 5);
  assert.ok(logs.some((l) => /sft p=0.5 seed 1: resuming from .*checkpoint-1 \(step 1 of 2\)/.test(l)), logs.join('\n'));
  const resumed = validateResults(JSON.parse(readFileSync(second.resultsPath, 'utf8')));
  // bit for bit: every metric and loss (the engine is deterministic on WASM)
  assert.equal(resumed.cells, fullResults.cells);
  assert.equal(resumed.alignments, fullResults.alignments);
  assert.equal(resumed.before_attack, fullResults.before_attack);
  assert.ok(readFileSync(join(out, 'cells/sft-p0.5-seed1/attack/adapter_model.safetensors'))
    .equals(readFileSync(join(full, 'cells/sft-p0.5-seed1/attack/adapter_model.safetensors'))), 'the resumed attack\'s adapter');
});

test('stopped in the middle of an evaluation before the attack, the grid redoes that unit and ends with the same numbers', async () => {
  const out = join(work, 'stopped-before');
  const stop = new AbortController();
  const first = await experiment(grid(out), {
    signal: stop.signal,
    onEvalProgress: (u, p) => { if (u.name === 'sft before attack seed 1' && p.answered > 0) stop.abort(); },
  });
  assert.ok(first.interrupted);
  assert.is(JSON.parse(readFileSync(join(out, 'before/sft-seed1/record.json'), 'utf8')).stage, 'started');
  const partial = validateResults(JSON.parse(readFileSync(first.resultsPath, 'utf8')));
  assert.equal(partial.before_attack!.map((b) => b.method), ['none']);
  const ran: string[] = [];
  const second = await experiment(grid(out), { onUnitStart: (u) => ran.push(u.name) });
  assert.not.ok(second.interrupted);
  assert.is(ran[0], 'sft before attack seed 1');
  assert.is(ran.length, 7);
  const resumed = validateResults(JSON.parse(readFileSync(second.resultsPath, 'utf8')));
  assert.equal(resumed.before_attack, fullResults.before_attack);
  assert.equal(resumed.cells, fullResults.cells);
});

test('a unit folder holding only a temporary of its record (killed between mkdir and the rename) is run, not refused', async () => {
  const out = join(work, 'tmp-left');
  const dir = join(out, 'cells/sft-p0-seed1');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '.cell.json.tmp-123-456'), '{"kind":');
  const res = await experiment(grid(out));
  assert.not.ok(res.interrupted);
  assert.equal(res.results.cells, fullResults.cells);
  assert.not.ok(existsSync(join(dir, '.cell.json.tmp-123-456')), 'the temporary is cleared');
  // anything else there is still refused
  const other = join(work, 'other-left');
  mkdirSync(join(other, 'cells/sft-p0-seed1'), { recursive: true });
  writeFileSync(join(other, 'cells/sft-p0-seed1/notes.txt'), 'mine');
  try {
    await experiment(grid(other));
    assert.unreachable('ran over a folder holding other files');
  } catch (e) {
    assert.instance(e, InputError);
    assert.match((e as Error).message, /sft-p0-seed1 holds files but no readable cell\.json/);
  }
});

test('other settings in --out are refused naming the setting, with nothing written; --overwrite redoes only those units; a new p reuses the rest', async () => {
  const out = join(work, 'full');
  const before = dirHash(out);
  try {
    await experiment(grid(out, { attackLr: 2e-3 }));
    assert.unreachable('ran over cells recorded with another lr');
  } catch (e) {
    assert.instance(e, InputError);
    assert.match((e as Error).message, /none p=0 seed 1 in .* was run with other settings \(attack_lr: 0\.001 there, 0\.002 now\) \(and 5 more\): --overwrite redoes them/);
  }
  assert.is(dirHash(out), before, 'nothing written');
  // a bad option: the same
  try {
    await experiment(grid(out, { methods: 'sft,dpo' }));
    assert.unreachable('accepted an unknown method');
  } catch (e) {
    assert.instance(e, InputError);
    assert.match((e as Error).message, /--methods: unknown method 'dpo'/);
  }
  assert.is(dirHash(out), before);
  // a new p: only its cells run
  const ran: string[] = [];
  const res = await experiment(grid(out, { ps: '0,0.25,0.5' }), { onUnitStart: (u) => ran.push(u.name) });
  assert.equal(ran, ['none p=0.25 seed 1', 'sft p=0.25 seed 1', 'vaccine p=0.25 seed 1']);
  assert.is(res.results.cells.length, 9);
  // vaccine's rho changed: its alignment and cells are redone with --overwrite, sft's kept
  const redo: string[] = [];
  await experiment(grid(out, { ps: '0,0.25,0.5', rho: 1, overwrite: true }), { onUnitStart: (u) => redo.push(u.name) });
  assert.equal(redo, ['align vaccine seed 1', 'vaccine before attack seed 1', 'vaccine p=0 seed 1', 'vaccine p=0.25 seed 1', 'vaccine p=0.5 seed 1']);
  // an evaluation setting: the evaluations before the attack are refused too
  try {
    await experiment(grid(out, { ps: '0,0.25,0.5', rho: 1, harmlessLimit: 1 }));
    assert.unreachable('ran over units recorded with another --harmless-limit');
  } catch (e) {
    assert.instance(e, InputError);
    assert.match((e as Error).message, /none before attack seed 1 in .* was run with other settings \(harmless_limit: 2 there, 1 now\) \(and 11 more\)/);
  }
});

test.run();
