// What every job's command line shares: the output switches (--quiet, --json, --help), the
// progress display over a training job's callbacks, interrupts, and the mapping of errors to exit
// codes (0 done, 1 failure, 2 bad input with one line on stderr and no stack trace, 130 / 143
// stopped by SIGINT / SIGTERM).
//
// Interrupts: the first SIGINT (Ctrl-C) or SIGTERM aborts the job's signal: the trainer finishes
// the step it is in, writes a checkpoint and returns; the command line prints how to resume (the
// exact command) and exits 130 or 143. A second signal exits at once.
//
// A closed stdout (the output piped into `head`, which exits early): progress is dropped from then
// on, and the run goes on to the end and saves its outputs as if nothing happened. Errors and the
// interrupt notes go to stderr.
import { basename, isAbsolute, relative } from 'node:path';
import { InputError } from '../engine/jobs/errors.ts';
import { flagsToOptions, opt, readFlags, UsageError, type OptionInputs, type OptionTable } from '../engine/jobs/options.ts';
import type { Interrupted, StepMetrics, TrainCallbacks, TrainStartInfo } from '../engine/jobs/trainer.ts';

let stdoutClosed = false;
/** Writes to stdout, unless the reader has gone (EPIPE): then the text is dropped. */
export function say(text: string): void {
  if (!stdoutClosed) process.stdout.write(text);
}
function watchStdout(): void {
  if (process.stdout.listenerCount('error') > 0) return;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') { stdoutClosed = true; return; }
    process.stderr.write(`stdout: ${e.message}\n`);
    stdoutClosed = true;
  });
}

/** One argument as a POSIX shell reads it back. */
function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`;
}

/** The command line that resumes this run: the same program and arguments, with --resume (and without --overwrite). */
export function resumeCommand(argv = process.argv): string {
  const node = basename(argv[0]) === 'node' ? 'node' : argv[0];
  // runtime/align.js runs the bundle as a child and names itself here: the command the user ran
  const invoked = process.env.VACCINE_CLI_SCRIPT || argv[1];
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
    help: opt.boolean({ group, short: 'h', default: false, help: 'this text' }),
  };
}

export type Mode = 'tty' | 'plain' | 'json' | 'quiet';

export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60), sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(sec).padStart(2, '0')}`;
}

/** Progress of a training job on stdout: a bar on a terminal, ~25 lines in a log, JSON lines, or nothing. */
export function progress(mode: Mode): TrainCallbacks {
  const out = say;
  let info: TrainStartInfo | null = null;
  let lastPlain = 0;
  return {
    onStart(i) {
      info = i;
      if (mode === 'json') out(JSON.stringify({ event: 'start', ...i }) + '\n');
      else if (mode !== 'quiet') {
        out(`${i.method} on ${i.model}: ${i.examples} examples, ${i.totalSteps} steps (warmup ${i.warmupSteps}), `
          + `${i.trainableParams} LoRA parameters, ${i.backend}\n`);
        if (i.startStep > 0) out(`resumed at step ${i.startStep}\n`);
      }
    },
    onStep(m: StepMetrics, total: number) {
      if (mode === 'json') { out(JSON.stringify({ event: 'step', ...m }) + '\n'); return; }
      if (mode === 'quiet') return;
      const done = m.step - (info?.startStep ?? 0), left = total - m.step;
      const eta = left * (m.elapsed_s / Math.max(1, done));
      const pl = m.perturbed_loss === null ? '' : ` perturbed ${m.perturbed_loss.toFixed(4)}`;
      if (mode === 'tty') {
        const width = 24, filled = Math.round((m.step / Math.max(1, total)) * width);
        const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
        out(`\r[${bar}] ${m.step}/${total} loss ${m.loss.toFixed(4)}${pl} ${Math.round(m.tokens_per_s)} tok/s ETA ${fmtTime(eta)}\x1b[K`);
        // keep about ten bars as lines, so the loss history stays on screen
        if (m.step === total || m.step % Math.max(1, Math.ceil(total / 10)) === 0) out('\n');
      } else {
        const every = Math.max(1, Math.ceil(total / 25)); // about 25 lines per run
        if (m.step % every === 0 || m.step === total || m.step - lastPlain >= every) {
          lastPlain = m.step;
          out(`step ${m.step}/${total} epoch ${m.epoch.toFixed(2)} lr ${m.lr.toExponential(3)} loss ${m.loss.toFixed(4)}${pl}`
            + ` ${Math.round(m.tokens_per_s)} tok/s elapsed ${fmtTime(m.elapsed_s)} eta ${fmtTime(eta)}\n`);
        }
      }
    },
    onLog(msg) {
      if (mode === 'json') out(JSON.stringify({ event: 'log', message: msg }) + '\n');
      else if (mode !== 'quiet') out((mode === 'tty' ? '\r\x1b[K' : '') + msg + '\n');
    },
    onCheckpoint(dir, step) {
      if (mode === 'json') out(JSON.stringify({ event: 'checkpoint', step, dir }) + '\n');
      else if (mode === 'plain') out(`checkpoint ${dir}\n`);
    },
    onInterrupted(i: Interrupted) {
      const resume = resumeCommand();
      if (mode === 'json') out(JSON.stringify({ event: 'interrupted', ...i, resume: i.finished ? null : resume }) + '\n');
      if (mode === 'tty') out('\n');
      if (i.finished) process.stderr.write(`interrupted after the last step (${i.step} of ${i.totalSteps}): the adapter is saved\n`);
      else if (i.checkpoint === null) process.stderr.write(`interrupted before step ${i.step + 1} of ${i.totalSteps}: nothing new was written\n`);
      else process.stderr.write(`interrupted at step ${i.step} of ${i.totalSteps}: checkpoint saved in ${i.checkpoint}\nresume with: ${resume}\n`);
    },
  };
}

const SIGNAL_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** Signals this long after the first are the same interrupt delivered twice (see catchInterrupts). */
export const SAME_INTERRUPT_MS = 1000;

/**
 * Handles SIGINT and SIGTERM for a run: the first aborts `interrupt` (the run finishes its step,
 * checkpoints and returns) and says so on stderr. One interrupt often arrives twice: Ctrl-C
 * reaches both runtime/align.js and the child it launches (one process group), and the launcher
 * forwards it too; a job scheduler may signal every process of a job. So signals within
 * SAME_INTERRUPT_MS of the first count as that one; a later one exits at once (130 / 143).
 * After that second, the handlers are removed: as a WASM step computes on the main thread, where
 * no handler runs until the step ends, a later signal then takes the default action and ends the
 * process at once, mid-step or mid-write.
 */
export function catchInterrupts(name: string, interrupt: AbortController,
  o: { exit?: (code: number) => void; now?: () => number } = {}): { readonly received: string | null; remove(): void } {
  const exit = o.exit ?? process.exit, now = o.now ?? Date.now;
  let received: string | null = null, at = 0;
  let timer: NodeJS.Timeout | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (received) {
      if (now() - at < SAME_INTERRUPT_MS) return;
      process.stderr.write(`\n${name}: ${sig} again: exiting at once\n`);
      exit(SIGNAL_CODES[sig]);
      return;
    }
    received = sig;
    at = now();
    process.stderr.write(`\n${name}: ${sig}: finishing the current step, then saving a checkpoint (${sig === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again exits at once)\n`);
    interrupt.abort(sig);
    timer = setTimeout(remove, SAME_INTERRUPT_MS);
    timer.unref();
  };
  const remove = () => {
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { get received() { return received; }, remove };
}

/**
 * Runs a command line: reads the flags against `table` (which includes outputOptions), prints
 * `help` for --help, else calls `run` with the options (as the library takes them), the output
 * mode and the signal that SIGINT / SIGTERM abort, and returns the exit code. Errors: an
 * unreadable command line prints "(see --help)"; an InputError is exit 2, anything else exit 1
 * ("failed: ", with the stack when `${NAME}_DEBUG` is set); with --json an error event is printed
 * too. A run that a signal stopped exits 130 (SIGINT) or 143 (SIGTERM).
 */
export async function runCli<T extends OptionTable & ReturnType<typeof outputOptions>>(name: string, table: T, argv: string[], help: () => string,
  run: (options: Partial<OptionInputs<T>>, mode: Mode, signal: AbortSignal) => Promise<number>): Promise<number> {
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
  const handlers = catchInterrupts(name, interrupt);
  try {
    const code = await run(flagsToOptions(table, raw), mode, interrupt.signal);
    return handlers.received ? SIGNAL_CODES[handlers.received] : code;
  } catch (e) {
    const err = e as Error, code = e instanceof InputError ? 2 : 1;
    // one line, whatever the message quotes from a file (a JSON error shows the text it stopped at)
    const message = String(err.message).replace(/[\x00-\x1f\x7f]+/g, ' ');
    if (mode === 'json') say(JSON.stringify({ event: 'error', message, exit_code: code }) + '\n');
    process.stderr.write(`${name}: ${code === 2 ? '' : 'failed: '}${message}\n`);
    if (code !== 2 && process.env[`${name.toUpperCase()}_DEBUG`]) process.stderr.write(`${err.stack}\n`);
    return code;
  } finally {
    handlers.remove();
  }
}
