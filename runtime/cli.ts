// What every job's command line shares: the output switches (--quiet, --json, --help), the
// progress display over a training job's callbacks, and the mapping of errors to exit codes
// (0 done, 1 failure, 2 bad input with one line on stderr and no stack trace).
import { InputError } from '../engine/jobs/errors.ts';
import { flagsToOptions, opt, readFlags, UsageError, type OptionInputs, type OptionTable } from '../engine/jobs/options.ts';
import type { StepMetrics, TrainCallbacks, TrainStartInfo } from '../engine/jobs/trainer.ts';

/** The switches every command line has, in the --help section `group`. */
export function outputOptions(group: string) {
  return {
    quiet: opt.boolean({ group, default: false, help: 'print only errors' }),
    json: opt.boolean({ group, default: false, help: 'print JSON lines (start, step, checkpoint, done, error)' }),
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
  const out = (s: string) => process.stdout.write(s);
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
  };
}

/**
 * Runs a command line: reads the flags against `table` (which includes outputOptions), prints
 * `help` for --help, else calls `run` with the options (as the library takes them) and the output
 * mode, and returns the exit code. Errors: an unreadable command line prints "(see --help)";
 * an InputError is exit 2, anything else exit 1 ("failed: ", with the stack when
 * `${NAME}_DEBUG` is set); with --json an error event is printed too.
 */
export async function runCli<T extends OptionTable & ReturnType<typeof outputOptions>>(name: string, table: T, argv: string[], help: () => string,
  run: (options: Partial<OptionInputs<T>>, mode: Mode) => Promise<number>): Promise<number> {
  let raw;
  try { raw = readFlags(table, argv); } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${name}: ${e.message}\n(see --help)\n`);
    return 2;
  }
  if (raw.help) { process.stdout.write(help() + '\n'); return 0; }
  const mode: Mode = raw.json ? 'json' : raw.quiet ? 'quiet' : process.stdout.isTTY ? 'tty' : 'plain';
  try {
    return await run(flagsToOptions(table, raw), mode);
  } catch (e) {
    const err = e as Error, code = e instanceof InputError ? 2 : 1;
    if (mode === 'json') process.stdout.write(JSON.stringify({ event: 'error', message: err.message, exit_code: code }) + '\n');
    process.stderr.write(`${name}: ${code === 2 ? '' : 'failed: '}${err.message}\n`);
    if (code !== 2 && process.env[`${name.toUpperCase()}_DEBUG`]) process.stderr.write(`${err.stack}\n`);
    return code;
  }
}
