// `node runtime/evaluate.js`: the command line over engine/jobs/evaluate.ts (harmful score,
// over-refusal, fine-tune accuracy, embedding drift). Its flags, defaults, checks and --help come
// from evaluate's option table (EVAL_OPTIONS); this file adds the help's framing, the progress
// display and the closing summary line. Exit codes are runtime/cli.ts's.
import { evaluate, EvaluationInterrupted, EVAL_GROUPS, EVAL_OPTIONS, type EvaluateCallbacks, type EvaluateProgress } from '../engine/jobs/evaluate.ts';
import { formatHelp, opt } from '../engine/jobs/options.ts';
import { fmtTime, outputOptions, runCli, say, type Mode } from './cli.ts';

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

/** Progress of an evaluation on stdout: a bar on a terminal, ~25 lines in a log, JSON lines, or nothing. */
function evalProgress(mode: Mode): EvaluateCallbacks {
  const out = say;
  let lastPlain = 0;
  return {
    onStart(i) {
      if (mode === 'json') { out(JSON.stringify({ event: 'start', ...i }) + '\n'); return; }
      if (mode === 'quiet') return;
      const sets = i.sets.map((s) => `${s.n} ${s.set} prompts (${s.file}, up to ${s.maxNewTokens} new tokens)`).join(', ');
      out(`evaluate ${i.model}${i.adapters.length ? ` + ${i.adapters.join(' + ')}` : ''} on ${i.backend}: ${sets || 'no answers'}`
        + `${i.drift ? `; drift over ${i.drift.samples} samples` : ''}${i.judge ? `; judge ${i.judge}` : ''}\n`);
    },
    onProgress(p: EvaluateProgress) {
      if (mode === 'json') { out(JSON.stringify({ event: 'progress', ...p }) + '\n'); return; }
      if (mode === 'quiet' || p.phase === 'drift' || p.phase === 'judge') return;
      const eta = p.eta_s === null ? '--:--' : fmtTime(p.eta_s);
      if (mode === 'tty') {
        const width = 24, filled = Math.round((p.answered / Math.max(1, p.answers)) * width);
        out(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.phase} ${p.done}/${p.total} (all ${p.answered}/${p.answers}) elapsed ${fmtTime(p.elapsed_s)} ETA ${eta}\x1b[K`);
        if (p.answered === p.answers) out('\n');
      } else {
        const every = Math.max(1, Math.ceil(p.answers / 25));
        if (p.answered - lastPlain >= every || p.answered === p.answers) {
          lastPlain = p.answered;
          out(`${p.phase} ${p.done}/${p.total} answers (all ${p.answered}/${p.answers}) elapsed ${fmtTime(p.elapsed_s)} eta ${eta}\n`);
        }
      }
    },
    onLog(msg) {
      if (mode === 'json') out(JSON.stringify({ event: 'log', message: msg }) + '\n');
      else if (mode !== 'quiet') out((mode === 'tty' ? '\r\x1b[K' : '') + msg + '\n');
    },
  };
}

async function main(argv: string[]): Promise<number> {
  return runCli('evaluate', CLI_OPTIONS, argv, helpText, async (opts, mode, signal) => {
    let res;
    try {
      res = await evaluate(opts, { ...evalProgress(mode), signal });
    } catch (e) {
      if (!(e instanceof EvaluationInterrupted)) throw e;
      // runCli turns the return into 130 / 143
      if (mode === 'json') say(JSON.stringify({ event: 'interrupted', answered: e.done, answers: e.total }) + '\n');
      process.stderr.write(`evaluate: ${e.message}; nothing was written to ${opts.out}\n`);
      return 0;
    }
    if (mode === 'json') say(JSON.stringify({ event: 'done', out: res.out, summary: res.summary }) + '\n');
    else if (mode !== 'quiet') {
      say(`results written to ${res.out} (${res.items.length} answers, ${Number(res.details.seconds).toFixed(1)} s)\n`);
      say(JSON.stringify(res.summary) + '\n');
    }
    return 0;
  });
}

process.exitCode = await main(process.argv.slice(2));
