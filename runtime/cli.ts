// What every job's command line shares: the output switches (--quiet, --json, --verbose,
// --log-every-s, --help), interrupts, and the mapping of errors to exit codes (0 done, 1 failure,
// 2 bad input with one line on stderr and no stack trace, 130 / 143 stopped by SIGINT / SIGTERM).
// The progress display is runtime/progress.ts's; stdout's handling, runtime/output.ts's.
//
// Interrupts: the first SIGINT (Ctrl-C) or SIGTERM aborts the job's signal: the trainer finishes
// the step it is in, writes a checkpoint and returns; the command line prints how to resume (the
// exact command) and exits 130 or 143. A second signal exits at once.
//
// A closed stdout (the output piped into `head`, which exits early): progress is dropped from then
// on, and a training run goes on to the end and saves its outputs as if nothing happened. Errors
// and the interrupt notes go to stderr.
import { basename, isAbsolute, relative } from 'node:path';
import { showDawnWarnings } from '../bindings/webgpu/dawn_noise.ts';
import { InputError } from '../engine/jobs/errors.ts';
import { flagsToOptions, normalizeOptions, opt, readFlags, UsageError, type OptionInputs, type OptionTable } from '../engine/jobs/options.ts';
import type { TrainCallbacks, TrainResult } from '../engine/jobs/trainer.ts';
import { say, watchStdout, type Mode } from './output.ts';
import { closeDisplays, setLogEvery, trainProgress } from './progress.ts';

export { say, stdoutClosed, onStdoutClosed, type Mode } from './output.ts';
export { fmtTime, ProgressDisplay, type ProgressState } from './progress.ts';

/** One argument as a POSIX shell reads it back. */
function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`;
}

/** The command line that resumes this run: the same program and arguments, with --resume (and without --overwrite). */
export function resumeCommand(argv = process.argv): string {
  const node = basename(argv[0]) === 'node' ? 'node' : argv[0];
  const invoked = argv[1];
  const script = invoked && isAbsolute(invoked) && !relative(process.cwd(), invoked).startsWith('..') ? relative(process.cwd(), invoked) : invoked;
  const args = argv.slice(2).filter((a) => a !== '--overwrite');
  if (!args.includes('--resume')) args.push('--resume');
  return [node, script, ...args].map(shellQuote).join(' ');
}

/** The switches every command line has, in the --help section `group`. */
export function outputOptions(group: string) {
  return {
    quiet: opt.boolean({ group, default: false, help: 'print only errors' }),
    json: opt.boolean({ group, default: false, help: 'print JSON lines (start, log, step, checkpoint, interrupted, done, error)' }),
    logEveryS: opt.number({
      group, flag: 'log-every-s', default: 10, range: { ok: (v) => v >= 0.1 && v <= 86400, what: 'a number of seconds in [0.1, 86400]' },
      help: 'when the output is not a terminal (a file, a pipe, a CI log): a progress\nline at least every X seconds, whatever the step count (default {default})',
    }),
    verbose: opt.boolean({ group, default: false, help: 'also show Dawn\'s own WebGPU warnings on stderr (hidden by default)' }),
    help: opt.boolean({ group, short: 'h', default: false, help: 'this text' }),
  };
}

/** Progress of a training job on stdout: a bar on a terminal, lines in a log, JSON lines, or nothing (runtime/progress.ts). */
export function progress(mode: Mode): TrainCallbacks {
  return trainProgress(mode, () => resumeCommand());
}

/**
 * The end of a training command (align, finetune): the saved adapter as a line or a JSON event,
 * and the exit code. A run stopped by a signal returns 0 here; runCli turns it into 130 / 143.
 */
export function reportSaved(res: TrainResult, t0: number, mode: Mode): number {
  if (res.interrupted && !res.interrupted.finished) return 0;
  const s = (performance.now() - t0) / 1000;
  const skipped = res.skippedNonFinite > 0 ? `; ${res.skippedNonFinite} steps skipped for non-finite values` : '';
  if (mode === 'json') say(JSON.stringify({ event: 'done', out: res.out, steps: res.steps, seconds: s, skipped_nonfinite: res.skippedNonFinite }) + '\n');
  else if (mode !== 'quiet') say(`adapter saved to ${res.out} (${res.steps} steps, ${s.toFixed(1)} s${skipped})\n`);
  return 0;
}

const SIGNAL_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Handles SIGINT and SIGTERM for a run: the first aborts `interrupt` (the run finishes its step,
 * checkpoints and returns) and says so on stderr. The handlers are removed as soon as it is
 * handled, so the next signal takes the default action and ends the process at once, even in the
 * middle of a WASM step (which computes on the main thread, where no handler would run until the
 * step ends). One Ctrl-C is one signal: every command runs in the process the user started, so
 * the terminal's SIGINT to its foreground process group reaches this process once.
 */
export function catchInterrupts(name: string, interrupt: AbortController, note = 'finishing the current step, then saving a checkpoint'): { readonly received: string | null; remove(): void } {
  let received: string | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (received) return;
    received = sig;
    remove();
    process.stderr.write(`\n${name}: ${sig}: ${note} (${sig === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again exits at once)\n`);
    interrupt.abort(sig);
  };
  const remove = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { get received() { return received; }, remove };
}

/**
 * Runs a command line: reads the flags against `table` (which includes outputOptions), prints
 * `help` for --help, else calls `run` with the options (as the library takes them, without the
 * output switches), the output mode and the signal that SIGINT / SIGTERM abort, and returns the
 * exit code. --verbose shows Dawn's native warnings; --log-every-s paces the plain progress
 * lines; `interruptNote` says what the first signal does (default: the training jobs' "finishing
 * the current step, then saving a checkpoint"). Errors: an unreadable command line prints "(see --help)"; an InputError is exit 2,
 * anything else exit 1 ("failed: ", with the stack when `${NAME}_DEBUG` is set); with --json an
 * error event is printed too. A run that a signal stopped exits 130 (SIGINT) or 143 (SIGTERM).
 */
export async function runCli<T extends OptionTable & ReturnType<typeof outputOptions>>(name: string, table: T, argv: string[], help: () => string,
  run: (options: Partial<OptionInputs<T>>, mode: Mode, signal: AbortSignal) => Promise<number>,
  o: { interruptNote?: string } = {}): Promise<number> {
  watchStdout();
  let raw;
  try { raw = readFlags(table, argv); } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${name}: ${e.message} (see --help)\n`);
    return 2;
  }
  if (raw.help) { say(help() + '\n'); return 0; }
  const mode: Mode = raw.json ? 'json' : raw.quiet ? 'quiet' : process.stdout.isTTY ? 'tty' : 'plain';
  const interrupt = new AbortController();
  const handlers = catchInterrupts(name, interrupt, o.interruptNote);
  try {
    const { quiet: _q, json: _j, help: _h, verbose, logEveryS, ...options } = flagsToOptions(table, raw);
    showDawnWarnings(verbose === true);
    setLogEvery(normalizeOptions({ logEveryS: table.logEveryS }, { logEveryS: logEveryS as number | undefined }).logEveryS);
    const code = await run(options as Partial<OptionInputs<T>>, mode, interrupt.signal);
    return handlers.received ? SIGNAL_CODES[handlers.received] : code;
  } catch (e) {
    closeDisplays();
    const err = e as Error, code = e instanceof InputError ? 2 : 1;
    // one line, whatever the message quotes from a file (a JSON error shows the text it stopped at)
    const message = String(err.message).replace(/[\x00-\x1f\x7f]+/g, ' ');
    if (mode === 'json') say(JSON.stringify({ event: 'error', message, exit_code: code }) + '\n');
    process.stderr.write(`${name}: ${code === 2 ? '' : 'failed: '}${message}\n`);
    if (code !== 2 && process.env[`${name.toUpperCase()}_DEBUG`]) process.stderr.write(`${err.stack}\n`);
    return code;
  } finally {
    closeDisplays();
    handlers.remove();
  }
}
