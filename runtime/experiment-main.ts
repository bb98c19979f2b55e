// `node runtime/experiment.js`: the command line over engine/jobs/experiment.ts (the paper's grid:
// align three ways, attack each at several harmful fractions, evaluate every result, write
// results.json and report.html). Flags, defaults, checks and --help come from the grid's option
// table (EXPERIMENT_OPTIONS); this file adds the help's framing and the progress display: a line
// per alignment and cell with the grid's ETA, and on a terminal a live line for the job running.
import { experiment, EXPERIMENT_GROUPS, EXPERIMENT_OPTIONS, type ExperimentCallbacks, type UnitDone, type UnitProgress } from '../engine/jobs/experiment.ts';
import { PRESET_NOTE } from '../engine/jobs/experiment-options.ts';
import { formatHelp, opt } from '../engine/jobs/options.ts';
import { fmtTime, outputOptions, ProgressDisplay, runCli, say, type Mode } from './cli.ts';

const CLI_OPTIONS = {
  ...EXPERIMENT_OPTIONS,
  ...outputOptions('Run control'),
  json: opt.boolean({ group: 'Run control', default: false, help: 'print JSON lines (start, unit_start, unit, log, done, error)' }),
};

function helpText(): string {
  return formatHelp(CLI_OPTIONS, {
    usage: `Usage: node runtime/experiment.js [--preset quick|paper] [--model PATH] [--out DIR] [options]

The harmful fine-tuning experiment (the Vaccine paper's grid), on one model upload:
  1. align the model each way in --methods (none, sft, vaccine; random-vaccine on request),
     and evaluate each aligned model before any attack (HS, HS+, FA, over-refusal; none: the
     bare model),
  2. attack each aligned model at each harmful fraction in --ps (the attack: the alignment
     adapter merged, a new LoRA fine-tuned on --n task rows of which floor(p*n) are harmful),
  3. evaluate every result: HS and HS+ on --harmful-prompts (--judge), over-refusal on
     --harmless-prompts, FA on --eval, drift against the aligned model on alignment rows,
for each seed in --seeds. Writes --out/results.json (the cells' metrics and loss curves, the
metrics before the attack, the alignments' loss curves, the settings, machine, wall times and git
commit) and --out/report.html (the tables of mean ± sd over seeds per method and p, and before
the attack per method, and charts), both after every unit; each alignment, evaluation before the
attack and cell keeps its outputs in its own folder as its record. A re-run with the same
settings skips what is finished, so a killed grid resumes where it stopped.

Without --model: stories260K from the shared data folder when present, else the built-in demo
(a tiny random model and generated data: it exercises the grid, it measures nothing real).`,
    groups: EXPERIMENT_GROUPS,
    footer: `${PRESET_NOTE}

Training settings not listed here are align.js's and finetune.js's defaults (AdamW, weight
decay 0.1, cosine schedule with warmup 0.1, max grad norm 1, all LoRA targets).

Exit codes: 0 done; 1 failure; 2 bad input (options, files, rows, the model, the judge, or an
--out that holds this grid with other settings): nothing is written; 130 / 143 stopped by
Ctrl-C / SIGTERM (the running job checkpoints; the same command continues the grid).`,
  });
}

function metricsText(m: UnitDone['metrics']): string {
  if (!m) return '';
  const f = (v: number | undefined, d = 1) => (v === undefined ? '-' : v.toFixed(d));
  const drift = m.drift === undefined ? '-' : Number(m.drift.toPrecision(4)).toString();
  return `HS ${f(m.harmful_score)} HS+ ${f(m.harmful_score_plus)} FA ${f(m.finetune_accuracy)} drift ${drift} over-refusal ${f(m.over_refusal)}`;
}

/**
 * Progress of the grid: a line per unit (an alignment; an evaluation before the attack or a cell, with its metrics, the elapsed time and the
 * grid's ETA) above the shared display, which shows the unit running (its step or its answers)
 * as a bar on a terminal, or as a line at least every --log-every-s in a log; JSON lines with --json.
 */
function gridProgress(mode: Mode): ExperimentCallbacks & { display: ProgressDisplay } {
  const display = new ProgressDisplay(mode);
  let skippedShown = 0;
  let t0 = performance.now(), gridEta: number | null = null, unitsDone = 0;
  const show = (u: UnitProgress, fields: string[]) => display.update({
    unit: 'unit', done: unitsDone, total: u.total, fields: [u.name, ...fields], elapsed_s: (performance.now() - t0) / 1000, eta_s: gridEta,
  });
  return {
    display,
    onStart(i) {
      t0 = performance.now();
      if (mode === 'json') { say(JSON.stringify({ event: 'start', ...i }) + '\n'); return; }
      const src = { given: '', shared: ' (stories260K from the shared data folder)', demo: ' (the built-in demo model and generated data)' }[i.source];
      display.line(`experiment: ${i.model}${src} on ${i.backend || 'no backend (nothing to run)'}`);
      display.line(`grid: ${i.alignments} alignments, ${i.before} evaluations before the attack and ${i.cells} cells in ${i.out}; ${i.finished} units finished before (skipped), ${i.toRun} to run`);
    },
    onUnitStart(u) {
      if (mode === 'json') say(JSON.stringify({ event: 'unit_start', index: u.index + 1, total: u.total, unit: u.name }) + '\n');
    },
    onStep(u, m, total) {
      show(u, [`step ${m.step}/${total}`, `loss ${m.loss.toFixed(4)}`]);
    },
    onEvalProgress(u, p) {
      if (p.phase === 'drift' || p.phase === 'judge') return;
      show(u, [`answers ${p.answered}/${p.answers}`]);
    },
    onUnitDone(u) {
      unitsDone = u.done;
      gridEta = u.eta_s;
      if (mode === 'json') {
        say(JSON.stringify({ event: 'unit', index: u.index + 1, total: u.total, unit: u.name, skipped: u.skipped, seconds: u.seconds, metrics: u.metrics ?? null, done: u.done, elapsed_s: u.elapsed_s, eta_s: u.eta_s }) + '\n');
        return;
      }
      // of the units finished before, the first three and the last are shown
      if (u.skipped && ++skippedShown > 3 && u.index + 1 < u.total) return;
      const eta = u.eta_s === null ? 'ETA once an alignment and a cell are timed' : `ETA ${fmtTime(u.eta_s)}`;
      const took = u.seconds === null ? '' : ` in ${u.seconds.toFixed(0)} s`;
      const what = u.unit.kind !== 'align' ? `: ${metricsText(u.metrics)}` : '';
      display.line(`[${u.index + 1}/${u.total}] ${u.skipped ? 'finished before' : 'done'}: ${u.name}${took}${what} | elapsed ${fmtTime(u.elapsed_s)}, ${eta}`);
    },
    onLog(msg) {
      if (mode === 'json') say(JSON.stringify({ event: 'log', message: msg }) + '\n');
      else display.line(`  ${msg}`);
    },
  };
}

async function main(argv: string[]): Promise<number> {
  return runCli('experiment', CLI_OPTIONS, argv, helpText, async (opts, mode, signal) => {
    const shown = gridProgress(mode);
    const res = await experiment(opts, { ...shown, signal });
    shown.display.end();
    const cells = res.results.cells.length, total = Number(res.results.meta?.cells_total ?? cells);
    if (mode === 'json') {
      say(JSON.stringify({ event: res.interrupted ? 'interrupted' : 'done', out: res.out, results: res.resultsPath, report: res.reportPath, cells, cells_total: total, ran: res.ran, skipped: res.skipped, seconds: res.wallSeconds }) + '\n');
    } else if (mode !== 'quiet') {
      say(`${res.interrupted ? 'stopped' : 'done'}: ${cells} of ${total} cells in ${res.resultsPath} and ${res.reportPath} (${res.ran} units run now, ${res.skipped} finished before; ${fmtTime(res.wallSeconds)})\n`);
    }
    if (res.interrupted) process.stderr.write('experiment: the same command continues the grid\n');
    return 0;
  }, { interruptNote: 'stopping the job under way (a training job after its step, with a checkpoint; an evaluation after its batch)' });
}

process.exitCode = await main(process.argv.slice(2));
