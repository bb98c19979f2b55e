// `node runtime/evaluate.js`: the command line over engine/jobs/evaluate.ts (harmful score,
// over-refusal, fine-tune accuracy, embedding drift). Its flags, defaults, checks and --help come
// from evaluate's option table (EVAL_OPTIONS); this file adds the help's framing, the progress
// display (runtime/progress.ts's) and the closing summary line. Exit codes are runtime/cli.ts's.
import { evaluate, EvaluationInterrupted, EVAL_GROUPS, EVAL_OPTIONS, type EvaluateCallbacks, type EvaluateProgress } from '../engine/jobs/evaluate.ts';
import { formatHelp, opt } from '../engine/jobs/options.ts';
import { outputOptions, ProgressDisplay, runCli, say, type Mode } from './cli.ts';

const CLI_OPTIONS = {
  ...EVAL_OPTIONS,
  ...outputOptions('Generation and run control'),
  json: opt.boolean({ group: 'Generation and run control', default: false, help: 'print JSON lines (start, progress, log, done, error)' }),
};

function helpText(): string {
  return formatHelp(CLI_OPTIONS, {
    usage: `Usage: node runtime/evaluate.js --model PATH [--adapter DIR ...] --out FILE
         [--harmful FILE [--judge keyword|model:DIR]] [--harmless FILE]
         [--task sst2|agnews|gsm8k --eval FILE] [--drift-reference DIR ... --drift-data FILE]

Scores a model (its base weights with the --adapter directories merged in order) as the Vaccine
reference does: greedy answers (batched, KV cache) to the Alpaca prompt of each row, the answer
being the text after "### Response:" (poison/evaluation/pred.py). Writes --out as JSON with a
summary (n and the metrics measured: harmful_score, harmful_score_plus, over_refusal,
finetune_accuracy in percent; drift), details and one item per answer (prompt, answer, verdict),
and prints the summary as the last line (JSON).`,
    groups: EVAL_GROUPS,
    footer: `Exit codes: 0 done, 1 failure, 2 bad input (options, files, rows, adapters, the judge); every
input is checked before the first answer is generated, and --out is written only when all is done;
130 / 143 stopped by Ctrl-C / SIGTERM between two batches of answers, with nothing written.`,
  });
}

/**
 * Progress of an evaluation: the shared display (runtime/progress.ts) over the answers of every
 * set (the set under way and its count as a field), JSON lines with --json, or nothing.
 */
function evalProgress(mode: Mode): EvaluateCallbacks & { display: ProgressDisplay } {
  const display = new ProgressDisplay(mode);
  return {
    display,
    onStart(i) {
      if (mode === 'json') { say(JSON.stringify({ event: 'start', ...i }) + '\n'); return; }
      const sets = i.sets.map((s) => `${s.n} ${s.set} prompts (${s.file}, up to ${s.maxNewTokens} new tokens)`).join(', ');
      display.line(`evaluate ${i.model}${i.adapters.length ? ` + ${i.adapters.join(' + ')}` : ''} on ${i.backend}: ${sets || 'no answers'}`
        + `${i.drift ? `; drift over ${i.drift.samples} samples` : ''}${i.judge ? `; judge ${i.judge}` : ''}`);
    },
    onProgress(p: EvaluateProgress) {
      if (mode === 'json') { say(JSON.stringify({ event: 'progress', ...p }) + '\n'); return; }
      if (p.phase === 'drift' || p.phase === 'judge' || p.answers === 0) return;
      display.update({ unit: 'answer', done: p.answered, total: p.answers, fields: [`${p.phase} ${p.done}/${p.total}`], elapsed_s: p.elapsed_s, eta_s: p.eta_s });
    },
    onLog(msg) {
      if (mode === 'json') say(JSON.stringify({ event: 'log', message: msg }) + '\n');
      else display.line(msg);
    },
  };
}

async function main(argv: string[]): Promise<number> {
  return runCli('evaluate', CLI_OPTIONS, argv, helpText, async (opts, mode, signal) => {
    let res;
    const shown = evalProgress(mode);
    try {
      res = await evaluate(opts, { ...shown, signal });
    } catch (e) {
      shown.display.end();
      if (!(e instanceof EvaluationInterrupted)) throw e;
      // runCli turns the return into 130 / 143
      if (mode === 'json') say(JSON.stringify({ event: 'interrupted', answered: e.done, answers: e.total }) + '\n');
      process.stderr.write(`evaluate: ${e.message}; nothing was written to ${opts.out}\n`);
      return 0;
    }
    shown.display.end();
    if (mode === 'json') say(JSON.stringify({ event: 'done', out: res.out, summary: res.summary }) + '\n');
    else if (mode !== 'quiet') {
      say(`results written to ${res.out} (${res.items.length} answers, ${Number(res.details.seconds).toFixed(1)} s)\n`);
      say(JSON.stringify(res.summary) + '\n');
    }
    return 0;
  }, { interruptNote: 'stopping after the current batch of answers; nothing will be written' });
}

process.exitCode = await main(process.argv.slice(2));
