// The option table (engine/jobs/options.ts) is the only declaration of a job's options: its
// flags, defaults, checks, --help and fingerprint must agree with each other, and a job must be
// able to add its own options with a few entries.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ALIGN_DEFAULTS, ALIGN_OPTIONS, normalizeAlignOptions } from '../../engine/jobs/align.ts';
import { InputError, AlignInputError } from '../../engine/jobs/errors.ts';
import {
  fingerprintOf, flagOf, formatDefault, formatHelp, normalizeOptions, opt, optionDefaults, parseFlags, range, UsageError,
  type OptionSpec,
} from '../../engine/jobs/options.ts';
import { TRAIN_GROUPS, TRAIN_OPTIONS } from '../../engine/jobs/train-options.ts';

const help = formatHelp(ALIGN_OPTIONS, { usage: 'Usage: test', groups: TRAIN_GROUPS });
const entries = Object.entries(ALIGN_OPTIONS) as [string, OptionSpec][];
const errorOf = (fn: () => unknown): Error => { try { fn(); } catch (e) { return e as Error; } throw new Error('no error thrown'); };

/** The help block of one flag: its line and continuation lines. */
function helpBlock(flag: string): string {
  const lines = help.split('\n');
  const i = lines.findIndex((l) => new RegExp(`^  (-\\w, )?--${flag}( |$)`).test(l));
  assert.ok(i >= 0, `--${flag} has a help line`);
  let j = i + 1;
  while (j < lines.length && /^ {26}\S/.test(lines[j])) j++;
  return lines.slice(i, j).join('\n');
}

test('every option has one help line, which shows its default', () => {
  for (const [key, spec] of entries) {
    const flag = flagOf(key, spec);
    assert.is(help.split('\n').filter((l) => l.startsWith(`  --${flag} `) || l === `  --${flag}`).length, 1, `--${flag} listed once`);
    const block = helpBlock(flag);
    if (spec.default !== undefined && spec.default !== null && typeof spec.default !== 'boolean') {
      assert.ok(block.includes(`default ${formatDefault(spec.default)}`), `--${flag}: help shows default ${formatDefault(spec.default)}:\n${block}`);
    }
  }
  for (const line of help.split('\n')) assert.ok(line.length <= 110, `help line over 110 columns: ${line}`);
});

test('a default given as a flag parses back to the default, and the defaults are the table\'s', () => {
  assert.equal(ALIGN_DEFAULTS, optionDefaults(ALIGN_OPTIONS));
  const full = normalizeAlignOptions({ model: '.', data: '.', out: 'x' });
  for (const [key, spec] of entries) {
    if (spec.default === undefined || spec.default === null || spec.kind === 'boolean') continue;
    const parsed = parseFlags(ALIGN_OPTIONS, [`--${flagOf(key, spec)}`, formatDefault(spec.default)]) as Record<string, unknown>;
    assert.equal(parsed[key], spec.default, key);
    const again = normalizeAlignOptions({ model: '.', data: '.', out: 'x', ...parsed });
    assert.equal((again as Record<string, unknown>)[key], (full as Record<string, unknown>)[key], key);
  }
  // normalization converts where the table says so: a targets list becomes the parsed array; the
  // default 'all' stays until the model is known (resolveLoraTargets)
  assert.is(full.loraTargets, 'all');
  assert.equal(normalizeAlignOptions({ model: '.', data: '.', out: 'x', loraTargets: 'v_proj, q_proj,v_proj' }).loraTargets, ['v_proj', 'q_proj']);
});

test('switches: --no-shuffle sets shuffle false, --resume true; absent, the defaults hold', () => {
  assert.equal(parseFlags(ALIGN_OPTIONS, ['--no-shuffle', '--resume']), { shuffle: false, resume: true });
  assert.equal(parseFlags(ALIGN_OPTIONS, []), {});
  const o = normalizeAlignOptions({ model: '.', data: '.', out: 'x' });
  assert.is(o.shuffle, true);
  assert.is(o.resume, false);
});

test('checks: a value out of range, a bad choice, a non-number, an unknown flag name the flag', () => {
  const base = { model: '.', data: '.', out: 'x' };
  for (const [key, spec] of entries) {
    if (!spec.range) continue;
    const flag = flagOf(key, spec);
    const e = errorOf(() => normalizeAlignOptions({ ...base, [key]: -1.5 }));
    assert.instance(e, InputError);
    assert.is(e.message, `--${flag} must be ${spec.range.what}, got -1.5`);
  }
  assert.is(errorOf(() => normalizeAlignOptions({ ...base, method: 'dpo' as never })).message, "--method must be one of sft, vaccine, random-vaccine, got 'dpo'");
  assert.is(errorOf(() => parseFlags(ALIGN_OPTIONS, ['--scheduler', 'step'])).message, "--scheduler must be one of cosine, linear, constant, got 'step'");
  assert.is(errorOf(() => parseFlags(ALIGN_OPTIONS, ['--epochs', '2x'])).message, "--epochs must be a number, got '2x'");
  assert.is(errorOf(() => normalizeAlignOptions({ ...base, lr: NaN })).message, '--lr must be a number >= 0, got NaN');
  assert.is(errorOf(() => normalizeAlignOptions({ ...base, lr: '1' as never })).message, '--lr must be a number, got "1"');
  assert.match(errorOf(() => normalizeAlignOptions({ ...base, loraTargets: 'q_proj,x' })).message, /unknown LoRA target module 'x'/);
  assert.is(errorOf(() => normalizeAlignOptions({ ...base, initAdapter: '/nope/adapter' })).message, '--init-adapter: adapter directory not found: /nope/adapter');
  const u = errorOf(() => parseFlags(ALIGN_OPTIONS, ['--learning-rate', '1']));
  assert.instance(u, UsageError);
  assert.instance(u, InputError);
  assert.instance(errorOf(() => parseFlags(ALIGN_OPTIONS, ['positional'])), UsageError);
  // one error type for every job; the old name is the same class
  assert.is(AlignInputError, InputError);
  assert.is(new InputError('x').exitCode, 2);
});

test('the resume fingerprint takes exactly the fields earlier checkpoints were written with', () => {
  const o = normalizeAlignOptions({ model: '.', data: '.', out: 'x' });
  const fp = fingerprintOf(ALIGN_OPTIONS, o);
  // these, plus model, model_bytes, model_config, data_sha256, examples and total_steps (the
  // trainer's), are the keys trainer_state.json has always held: old checkpoints still resume
  assert.equal(Object.keys(fp).sort(), ['batch_size', 'grad_accum', 'lora_alpha', 'lora_dropout', 'lora_r', 'lora_targets', 'lr',
    'max_grad_norm', 'max_length', 'merge_adapter', 'method', 'optimizer', 'rho', 'scheduler', 'seed', 'shuffle', 'warmup_ratio',
    'weight_decay', 'weights']);
  assert.is(fp.lr, 1e-3);
  assert.equal(fp.lora_targets, o.loraTargets);
  assert.is(fp.merge_adapter, null);
});

test('a job adds its options with a few entries: flags, checks, help and fingerprint follow', () => {
  // the shape of a later fine-tune's table: the shared set, without --data, with its own inputs
  const { data: _data, ...shared } = TRAIN_OPTIONS;
  const TASKS = ['sst2', 'agnews', 'gsm8k', 'alpaca'] as const;
  const FT = {
    ...shared,
    task: opt.choice(TASKS, { group: 'Data', arg: 'T', default: 'sst2', fingerprint: 'task', help: 'sst2 | agnews | gsm8k | alpaca (default {default})' }),
    n: opt.integer({ group: 'Data', default: 1000, range: range.intAtLeast(1), fingerprint: 'n', help: 'rows in the mix (default {default})' }),
    p: opt.number({ group: 'Data', default: 0.1, range: range.within(0, 1), fingerprint: 'p', help: 'harmful fraction (default {default})' }),
  };
  const parsed = parseFlags(FT, ['--task', 'gsm8k', '--p', '0.2', '--lr', '1e-5']);
  assert.equal(parsed, { task: 'gsm8k', p: 0.2, lr: 1e-5 });
  const o = normalizeOptions(FT, parsed);
  assert.is(o.n, 1000);
  assert.is(o.p, 0.2);
  assert.is(o.epochs, 1);
  assert.is(errorOf(() => normalizeOptions(FT, { p: 1.5 })).message, '--p must be a number in [0, 1], got 1.5');
  assert.instance(errorOf(() => parseFlags(FT, ['--data', 'x'])), UsageError);
  const fp = fingerprintOf(FT, o);
  assert.equal([fp.task, fp.n, fp.p, fp.lr], ['gsm8k', 1000, 0.2, 1e-5]);
  const h = formatHelp(FT, { usage: 'u', groups: [...TRAIN_GROUPS, 'Data'] });
  assert.match(h, /\nData\n {2}--task T {16}sst2 \| agnews \| gsm8k \| alpaca \(default sst2\)\n {2}--n N {19}rows in the mix \(default 1000\)/);
  assert.not.match(h, /--data/);
});

test('formatHelp refuses a table whose help hides a default or names no listed section', () => {
  const hidden = { x: opt.number({ group: 'A', default: 3, help: 'no default shown' }) };
  assert.match(errorOf(() => formatHelp(hidden, { usage: '', groups: ['A'] })).message, /option x: its help does not show its default/);
  const lost = { y: opt.boolean({ group: 'B', default: false, help: 'a switch' }) };
  assert.match(errorOf(() => formatHelp(lost, { usage: '', groups: ['A'] })).message, /option y: group 'B'/);
});

test.run();
