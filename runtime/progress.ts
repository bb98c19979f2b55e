// The progress display every command shares: one ProgressDisplay, fed by each job's callbacks
// (a training run's steps here in trainProgress, generation's and evaluation's answers in their
// own commands), in the output mode runCli chose:
// - tty: a bar redrawn in place (`\r`), cut to the terminal's width: the unit done of the total,
//   the job's fields (a training run: epoch, lr, loss and the perturbed loss, tokens/s), elapsed
//   time and ETA. About ten bars are kept as lines, so the loss history stays on screen; a log or
//   checkpoint line is printed above the bar.
// - plain (not a terminal: a file, a pipe, a CI log): the same fields as lines: the first and the
//   last update, about 25 in a run, and at least one every --log-every-s seconds (default 10)
//   whatever the step count. Between two updates (a step that keeps the event loop free, such as
//   a WebGPU step waiting on the device) a timer prints a line saying which unit is running.
// - json and quiet: nothing here (json events are the jobs' own).
// Text goes through `say` (stdout, dropped once the reader has gone) unless a writer is given.
import { say, type Mode } from './output.ts';
import type { Interrupted, StepMetrics, TrainCallbacks, TrainStartInfo } from '../engine/jobs/trainer.ts';

/** Seconds as m:ss, or XhYYm from an hour on; '--:--' when unknown. */
export function fmtTime(s: number | null): string {
  if (s === null || !Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60), sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(sec).padStart(2, '0')}`;
}

/** What the display shows at one moment of a long job. */
export interface ProgressState {
  /** the unit counted: 'step', 'prompt', 'answer' */
  unit: string;
  done: number; total: number;
  /** shown in order after done/total, e.g. ['epoch 0.50', 'loss 2.3456'] */
  fields: string[];
  elapsed_s: number;
  /** null: not known yet */
  eta_s: number | null;
}

export interface DisplayOptions {
  /** plain mode: a line at least this often, in seconds (default: the command line's --log-every-s, else 10) */
  logEveryS?: number;
  /** where the text goes (default: stdout through `say`) */
  write?: (text: string) => void;
  /** the terminal's width (default: stdout's columns) */
  columns?: () => number | undefined;
  /** plain: print the first update (default true; generation's first token says nothing) */
  firstLine?: boolean;
  /** milliseconds (tests) */
  now?: () => number;
}

/** --log-every-s as the command line read it (runCli sets it). */
let defaultLogEveryS = 10;
export function setLogEvery(seconds: number): void { defaultLogEveryS = seconds; }

const BAR_WIDTH = 24;
/** tty: about this many bars are kept as lines */
const TTY_KEPT = 10;
/** plain: about this many lines by count */
const PLAIN_LINES = 25;
const TTY_REDRAW_MS = 100;

/** The displays not yet ended (runCli ends them when a run fails, so the error starts a line of its own). */
const open = new Set<ProgressDisplay>();
export function closeDisplays(): void { for (const d of [...open]) d.end(); }

export class ProgressDisplay {
  private readonly write: (text: string) => void;
  private readonly logEveryMs: number;
  private readonly now: () => number;
  private readonly columns: () => number | undefined;
  private last: ProgressState | null = null;
  private lastAt = 0;
  private lastLineAt: number;
  private lastPlainDone = 0;
  private endPrinted = false;
  private lastDraw = -Infinity;
  private barShown = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly firstLine: boolean;

  constructor(readonly mode: Mode, o: DisplayOptions = {}) {
    this.write = o.write ?? say;
    this.logEveryMs = (o.logEveryS ?? defaultLogEveryS) * 1000;
    this.now = o.now ?? (() => performance.now());
    this.columns = o.columns ?? (() => process.stdout.columns);
    this.lastLineAt = this.now();
    this.firstLine = o.firstLine ?? true;
    if (this.shows) open.add(this);
  }

  private get shows(): boolean { return this.mode === 'tty' || this.mode === 'plain'; }

  /** A new state: tty redraws the bar; plain prints a line when one is due. */
  update(p: ProgressState): void {
    if (!this.shows) return;
    const t = this.now();
    const first = this.last === null;
    this.last = p;
    this.lastAt = t;
    const every = Math.max(1, Math.ceil(p.total / (this.mode === 'tty' ? TTY_KEPT : PLAIN_LINES)));
    const ended = p.done >= p.total && !this.endPrinted;
    if (ended) this.endPrinted = true;
    // a unit count that reached the next multiple of `every` (several updates may share one count)
    const counted = Math.floor(p.done / every) > Math.floor(this.lastPlainDone / every);
    if (this.mode === 'tty') {
      // redrawn at most every 100 ms (generation updates per token), always when a line is kept
      if (!(ended || counted || first) && t - this.lastDraw < TTY_REDRAW_MS) return;
      this.lastDraw = t;
      this.write(`\r${this.fit(this.barText(p))}\x1b[K`);
      this.barShown = true;
      if (ended || counted) { this.lastPlainDone = p.done; this.newline(); }
      return;
    }
    if ((first && this.firstLine) || ended || counted || t - this.lastLineAt >= this.logEveryMs) {
      this.lastPlainDone = p.done;
      this.emit(this.plainText(p));
    }
    this.startTimer();
  }

  /** A whole line (a log message, a checkpoint written): above the bar on a terminal. */
  line(text: string): void {
    if (!this.shows) return;
    if (this.mode === 'tty' && this.barShown) {
      this.write(`\r\x1b[K${text}\n`);
      if (this.last) this.write(this.fit(this.barText(this.last)) + '\x1b[K');
      return;
    }
    this.emit(text);
  }

  /** Ends the display: the bar's line is closed, the timer stopped. */
  end(): void {
    open.delete(this);
    this.newline();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private newline(): void {
    if (this.mode === 'tty' && this.barShown) this.write('\n');
    this.barShown = false;
  }

  private emit(text: string): void {
    this.write(text + '\n');
    this.lastLineAt = this.now();
    if (this.shows) open.add(this);
  }

  /** plain: while a unit runs with the event loop free, a line at least every logEveryS seconds. */
  private startTimer(): void {
    if (this.timer || this.mode !== 'plain') return;
    this.timer = setInterval(() => {
      const p = this.last, t = this.now();
      if (!p || p.done >= p.total || t - this.lastLineAt < this.logEveryMs) return;
      const since = (t - this.lastAt) / 1000;
      this.emit(`${p.unit} ${p.done + 1}/${p.total} running for ${fmtTime(since)} elapsed ${fmtTime(p.elapsed_s + since)}`);
    }, Math.max(50, Math.min(1000, this.logEveryMs / 4)));
    this.timer.unref();
  }

  private tail(p: ProgressState, eta: string): string {
    return [...p.fields, `elapsed ${fmtTime(p.elapsed_s)}`, `${eta} ${fmtTime(p.eta_s)}`].join(' ');
  }

  private plainText(p: ProgressState): string {
    return `${p.unit} ${p.done}/${p.total} ${this.tail(p, 'eta')}`;
  }

  private barText(p: ProgressState): string {
    const filled = Math.min(BAR_WIDTH, Math.round((p.done / Math.max(1, p.total)) * BAR_WIDTH));
    return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${p.unit} ${p.done}/${p.total} ${this.tail(p, 'ETA')}`;
  }

  /** A bar that wraps would break the redraw: without the bar itself when too wide, then cut. */
  private fit(text: string): string {
    const cols = this.columns();
    if (!cols || text.length < cols) return text;
    const bare = text.slice(BAR_WIDTH + 3);
    return bare.length < cols ? bare : bare.slice(0, cols - 1);
  }
}

/** The step's fields as the display shows them. */
export function stepFields(m: StepMetrics): string[] {
  return [
    `epoch ${m.epoch.toFixed(2)}`, `lr ${m.lr.toExponential(2)}`, `loss ${m.loss.toFixed(4)}`,
    ...(m.perturbed_loss === null ? [] : [`perturbed ${m.perturbed_loss.toFixed(4)}`]),
    `${Math.round(m.tokens_per_s)} tok/s`,
  ];
}

/** The command that resumes an interrupted run (cli.ts). */
type ResumeCommand = () => string;

/** Progress of a training job: the display over its callbacks, JSON lines with --json, or nothing. */
export function trainProgress(mode: Mode, resumeCommand: ResumeCommand, o: DisplayOptions = {}): TrainCallbacks {
  const out = o.write ?? say;
  const display = new ProgressDisplay(mode, o);
  let info: TrainStartInfo | null = null;
  return {
    onStart(i) {
      info = i;
      if (mode === 'json') out(JSON.stringify({ event: 'start', ...i }) + '\n');
      else {
        display.line(`${i.method} on ${i.model}: ${i.examples} examples, ${i.totalSteps} steps (warmup ${i.warmupSteps}), `
          + `${i.trainableParams} LoRA parameters, ${i.backend}`);
        if (i.startStep > 0) display.line(`resumed at step ${i.startStep}`);
      }
    },
    onStep(m: StepMetrics, total: number) {
      if (mode === 'json') { out(JSON.stringify({ event: 'step', ...m }) + '\n'); return; }
      const done = m.step - (info?.startStep ?? 0);
      const eta = done > 0 ? (total - m.step) * (m.elapsed_s / done) : null;
      display.update({ unit: 'step', done: m.step, total, fields: stepFields(m), elapsed_s: m.elapsed_s, eta_s: eta });
      if (m.step >= total) display.end();
    },
    onLog(msg) {
      if (mode === 'json') out(JSON.stringify({ event: 'log', message: msg }) + '\n');
      else display.line(msg);
    },
    onCheckpoint(dir, step) {
      if (mode === 'json') out(JSON.stringify({ event: 'checkpoint', step, dir }) + '\n');
      else display.line(`checkpoint saved: ${dir} (step ${step})`);
    },
    onInterrupted(i: Interrupted) {
      const resume = resumeCommand();
      if (mode === 'json') out(JSON.stringify({ event: 'interrupted', ...i, resume: i.finished ? null : resume }) + '\n');
      display.end();
      if (i.finished) process.stderr.write(`interrupted after the last step (${i.step} of ${i.totalSteps}): the adapter is saved\n`);
      else if (i.checkpoint === null) process.stderr.write(`interrupted before step ${i.step + 1} of ${i.totalSteps}: nothing new was written\n`);
      else process.stderr.write(`interrupted at step ${i.step} of ${i.totalSteps}: checkpoint saved in ${i.checkpoint}\nresume with: ${resume}\n`);
    },
  };
}
