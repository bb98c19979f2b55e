// One table declares a job's options, each once: its name, how the command line reads it, its
// default, its check, its --help line and whether it enters the resume fingerprint. Everything
// else is derived from the table: the library's option type and its defaults (optionDefaults),
// validation (normalizeOptions), the command line's flags (readFlags / flagsToOptions, over
// node:util's parseArgs), the --help text (formatHelp) and the fingerprint (fingerprintOf).
//
// node:util's parseArgs rather than a CLI library: the table already holds what such a library
// would (names, types, defaults, help), parseArgs reads flags exactly as the command line always
// has (--x=v, -h, strict unknown-flag errors), and it adds no dependency.
//
// A job's table is the shared set of a training job (engine/jobs/train-options.ts) spread with the
// job's own entries: `{ ...TRAIN_OPTIONS, method: opt.choice(...), rho: opt.number(...) }`.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { InputError } from './errors.ts';

/**
 * One option. `In` is what a library caller may pass (a path, or an object already in memory),
 * `Out` the value after normalization (defaults applied, checked, converted).
 */
export interface OptionSpec<In = unknown, Out = In> {
  /** how the command line reads the flag's text: as it is, as a number, or as a switch */
  kind: 'string' | 'number' | 'boolean';
  /** the flag without dashes (default: the key in kebab-case); for a negated switch, e.g. 'no-shuffle' */
  flag?: string;
  /** a boolean whose flag (e.g. --no-shuffle) sets it to false */
  negated?: boolean;
  /** a string flag that may be given several times: the value is the list, in order */
  multiple?: boolean;
  short?: string;
  /** the value's placeholder in --help: PATH, N, X */
  arg?: string;
  /** undefined: no default (the option is absent unless given) */
  default: In;
  /** the allowed strings */
  choices?: readonly string[];
  /** a number's range: checked after the default is applied; message "--flag must be <what>, got v" */
  range?: { ok: (v: number) => boolean; what: string };
  /** a string value names a path that must exist; the message is `${exists}: ${path}` */
  exists?: string;
  /** values of another type that the library accepts as they are (a model or rows already in memory, a backend object) */
  objects?: boolean;
  /** converts the checked value; throw an Error whose message names the problem */
  normalize?: (v: In) => Out;
  /** the --help text; '{default}' is replaced by the default; '\n' starts a continuation line */
  help: string;
  /** the --help section */
  group: string;
  /** the key under which the normalized value enters the resume fingerprint (absent: it does not) */
  fingerprint?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OptionTable = Record<string, OptionSpec<any, any>>;

/* eslint-disable @typescript-eslint/no-explicit-any */
/** Every option as a library caller passes it (wrap in Partial: all are optional). */
export type OptionInputs<T extends OptionTable> = { [K in keyof T]: T[K] extends OptionSpec<infer I, any> ? I : never };
/** Every option after normalizeOptions. */
export type OptionValues<T extends OptionTable> = { [K in keyof T]: T[K] extends OptionSpec<any, infer O> ? O : never };
/* eslint-enable @typescript-eslint/no-explicit-any */

type Spec<In, Out> = Omit<OptionSpec<In, Out>, 'kind'>;

/** Builders that fix `kind` and let TypeScript infer each option's type from its default. */
export const opt = {
  string<In = string, Out = In>(s: Spec<In, Out>): OptionSpec<In, Out> { return { kind: 'string', arg: 'PATH', ...s }; },
  number<In = number, Out = In>(s: Spec<In, Out>): OptionSpec<In, Out> { return { kind: 'number', arg: 'X', ...s }; },
  /** an integer: the range's `what` says so */
  integer<In = number, Out = In>(s: Spec<In, Out>): OptionSpec<In, Out> { return { kind: 'number', arg: 'N', ...s }; },
  boolean(s: Spec<boolean, boolean>): OptionSpec<boolean, boolean> { return { kind: 'boolean', ...s }; },
  choice<C extends string, Extra = never>(choices: readonly C[], s: Omit<Spec<C | Extra, C | Extra>, 'choices'>): OptionSpec<C | Extra, C | Extra> {
    return { kind: 'string', choices, ...s };
  },
};

/** Ranges for numbers, each with the words its error message uses. */
export const range = {
  atLeast: (min: number) => ({ ok: (v: number) => v >= min, what: `a number >= ${min}` }),
  above: (min: number) => ({ ok: (v: number) => v > min, what: `a number > ${min}` }),
  intAtLeast: (min: number) => ({ ok: (v: number) => Number.isInteger(v) && v >= min, what: `an integer >= ${min}` }),
  intIn: (lo: number, hi: number) => ({ ok: (v: number) => Number.isInteger(v) && v >= lo && v <= hi, what: `an integer in ${lo}..${hi}` }),
  /** [lo, hi] or [lo, hi) */
  within: (lo: number, hi: number, closed = true) => ({
    ok: (v: number) => v >= lo && (closed ? v <= hi : v < hi), what: `a number in [${lo}, ${hi}${closed ? ']' : ')'}`,
  }),
};

/** The command-line flag of an option: its `flag`, else the key in kebab-case (batchSize -> batch-size). */
export function flagOf(key: string, spec: OptionSpec): string {
  return spec.flag ?? key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** The object without its undefined entries, so that they do not override defaults when spread. */
export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The defaults of every option (before normalization). */
export function optionDefaults<T extends OptionTable>(table: T): OptionInputs<T> {
  return Object.fromEntries(Object.entries(table).map(([k, s]) => [k, s.default])) as OptionInputs<T>;
}

/**
 * Defaults applied to `input`, each value checked (type, choices, range, path exists) and
 * converted; throws InputError naming the option. Keys not in the table pass through unchanged.
 */
export function normalizeOptions<T extends OptionTable>(table: T, input: Partial<OptionInputs<T>>): OptionValues<T> {
  const out: Record<string, unknown> = { ...optionDefaults(table), ...stripUndefined(input) };
  for (const [key, spec] of Object.entries(table)) {
    const flag = `--${flagOf(key, spec)}`;
    let v = out[key];
    if (v === undefined || (v === null && spec.default === null)) continue;
    if (spec.kind === 'number' && typeof v === 'number') {
      if (!Number.isFinite(v) || (spec.range && !spec.range.ok(v))) throw new InputError(`${flag} must be ${spec.range?.what ?? 'a finite number'}, got ${v}`);
    } else if (spec.kind === 'string' && typeof v === 'string') {
      if (spec.choices && !spec.choices.includes(v)) throw new InputError(`${flag} must be one of ${spec.choices.join(', ')}, got '${v}'`);
      if (spec.exists && !existsSync(v)) throw new InputError(`${spec.exists}: ${v}`);
    } else if (spec.multiple && Array.isArray(v) && v.every((s) => typeof s === 'string')) {
      for (const s of v as string[]) if (spec.exists && !existsSync(s)) throw new InputError(`${spec.exists}: ${s}`);
    } else if (!(spec.kind === 'boolean' && typeof v === 'boolean') && !(spec.objects && typeof v === 'object' && v !== null)) {
      throw new InputError(`${flag} must be ${spec.kind === 'number' ? 'a number' : `a ${spec.kind}`}, got ${JSON.stringify(v) ?? String(v)}`);
    }
    if (spec.normalize) {
      try { v = spec.normalize(v); } catch (e) { throw new InputError((e as Error).message); }
    }
    out[key] = v;
  }
  return out as OptionValues<T>;
}

/** A command line that cannot be read (unknown flag, positional, missing value): print "(see --help)" with it. */
export class UsageError extends InputError {
  constructor(message: string) { super(message); this.name = 'UsageError'; }
}

/** The flags as given: text for valued options, true for switches; absent flags are absent. UsageError when unreadable. */
export type RawFlags = Record<string, string | string[] | boolean | undefined>;

/** Reads a command line against the table (node:util's parseArgs, strict, no positionals). */
export function readFlags(table: OptionTable, argv: string[]): RawFlags {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [key, spec] of Object.entries(table)) {
    options[flagOf(key, spec)] = {
      type: spec.kind === 'boolean' ? 'boolean' : 'string', ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}),
    };
  }
  // `--lr -1`: parseArgs takes a value starting with a dash for a flag of its own and refuses it as
  // ambiguous; a negative number after a valued flag is that flag's value (the range check then
  // says what is allowed).
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], next = argv[i + 1];
    if (a.startsWith('--') && !a.includes('=') && options[a.slice(2)]?.type === 'string' && next !== undefined
      && /^-(\d|\.\d|Infinity)/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as RawFlags;
  } catch (e) {
    // parseArgs's messages, shortened to one line
    const msg = (e as Error).message, flag = /'(-[^' ]+)/.exec(msg)?.[1] ?? '';
    if (/ambiguous|argument missing/.test(msg)) throw new UsageError(`${flag} needs a value`);
    if (/does not take an argument/.test(msg)) throw new UsageError(`${flag} is a switch: it takes no value`);
    if (/Unexpected argument/.test(msg)) throw new UsageError(`unexpected argument ${/'([^']*)'/.exec(msg)?.[1] ?? ''}: every value follows its --flag`);
    throw new UsageError(msg.split('\n')[0].replace(/^Unknown option/, 'unknown option'));
  }
}

/**
 * The flags as the library takes them: numbers parsed, choices checked (InputError otherwise);
 * absent flags stay absent, so the library's defaults apply.
 */
export function flagsToOptions<T extends OptionTable>(table: T, raw: RawFlags): Partial<OptionInputs<T>> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const flag = flagOf(key, spec);
    const s = raw[flag];
    if (s === undefined) continue;
    if (spec.kind === 'boolean') {
      // a switch only ever turns its option on (or off, when negated); absent, the default holds
      if (s === true) out[key] = !spec.negated;
    } else if (spec.kind === 'number') {
      const x = Number(s);
      if (typeof s !== 'string' || s.trim() === '' || !Number.isFinite(x)) throw new InputError(`--${flag} must be a number, got '${s}'`);
      out[key] = x;
    } else if (spec.multiple) {
      out[key] = Array.isArray(s) ? s : [s];
    } else {
      if (spec.choices && !spec.choices.includes(s as string)) throw new InputError(`--${flag} must be one of ${spec.choices.join(', ')}, got '${s}'`);
      out[key] = s;
    }
  }
  return out as Partial<OptionInputs<T>>;
}

/** readFlags then flagsToOptions. */
export function parseFlags<T extends OptionTable>(table: T, argv: string[]): Partial<OptionInputs<T>> {
  return flagsToOptions(table, readFlags(table, argv));
}

/** How a default reads in --help. */
export function formatDefault(v: unknown): string {
  return Array.isArray(v) ? v.join(',') : String(v);
}

const FLAG_COLUMN = 24;

/**
 * The --help text: `usage`, then one section per group (in `groups` order; a table's group not
 * listed there is an error, so no option goes undocumented), then `footer`. An option with a
 * default other than undefined, null or a boolean must show it with '{default}'.
 */
export function formatHelp(table: OptionTable, doc: { usage: string; groups: string[]; footer?: string }): string {
  const lines = [doc.usage];
  for (const [key, spec] of Object.entries(table)) {
    if (!doc.groups.includes(spec.group)) throw new Error(`option ${key}: group '${spec.group}' is not in the help's groups`);
    const shown = spec.default !== undefined && spec.default !== null && typeof spec.default !== 'boolean';
    if (shown && !spec.help.includes('{default}')) throw new Error(`option ${key}: its help does not show its default ({default})`);
  }
  for (const group of doc.groups) {
    const entries = Object.entries(table).filter(([, s]) => s.group === group);
    if (entries.length === 0) continue;
    lines.push('', group);
    for (const [key, spec] of entries) {
      const name = (spec.short ? `-${spec.short}, ` : '') + `--${flagOf(key, spec)}` + (spec.kind === 'boolean' ? '' : ` ${spec.arg}`);
      const text = spec.help.replaceAll('{default}', formatDefault(spec.default)).split('\n');
      const head = `  ${name}`;
      lines.push((head.length + 1 >= FLAG_COLUMN + 2 ? `${head}\n${' '.repeat(FLAG_COLUMN + 2)}` : head.padEnd(FLAG_COLUMN + 2)) + text[0]);
      for (const more of text.slice(1)) lines.push(' '.repeat(FLAG_COLUMN + 2) + more);
    }
  }
  if (doc.footer) lines.push('', doc.footer);
  return lines.join('\n');
}

/** The options that enter the resume fingerprint, under their fingerprint keys, from normalized values. */
export function fingerprintOf(table: OptionTable, values: Record<string, unknown>): Record<string, unknown> {
  const fp: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) if (spec.fingerprint) fp[spec.fingerprint] = values[key] ?? null;
  return fp;
}
