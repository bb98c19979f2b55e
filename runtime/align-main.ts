// `node runtime/align.js`: the command line over engine/jobs/align.ts. Its flags, defaults, checks
// and --help all come from align's option table (ALIGN_OPTIONS); this file adds the help's
// framing, the built-in demo (when neither --model nor --data is given) and the closing line.
// Progress and exit codes are runtime/cli.ts's. No training logic lives here.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_ALIGN, demoAlignmentRows, randomLlamaWeights, tinyLlamaConfig } from '../engine/demo.ts';
import { align, ALIGN_DEFAULTS, ALIGN_OPTIONS, InputError, type AlignCallbacks, type AlignOptions } from '../engine/jobs/align.ts';
import { formatHelp, opt, stripUndefined } from '../engine/jobs/options.ts';
import { ALPHA_NOTE } from '../engine/jobs/presets.ts';
import { TRAIN_GROUPS } from '../engine/jobs/train-options.ts';
import { ByteTokenizer } from '../engine/tokenizer/bytes.ts';
import { outputOptions, progress, reportSaved, runCli, say, type Mode } from './cli.ts';

const D = ALIGN_DEFAULTS;
const DEMO = { ...DEMO_ALIGN, backend: 'wasm' as const };
const DEMO_OUT = join(tmpdir(), 'vaccine-align-demo');

/** align's table, with the demo's notes in two help lines, and the output switches. */
const CLI_OPTIONS = {
  ...ALIGN_OPTIONS,
  out: { ...ALIGN_OPTIONS.out, help: ALIGN_OPTIONS.out.help.replace('(created)', `(created; demo default: ${DEMO_OUT})`) },
  backend: { ...ALIGN_OPTIONS.backend, help: ALIGN_OPTIONS.backend.help.replace('(default {default})', `(default {default}; demo: ${DEMO.backend})`) },
  ...outputOptions('Run control'),
};

function helpText(): string {
  return formatHelp(CLI_OPTIONS, {
    usage: `Usage: node runtime/align.js --model PATH --data PATH --out DIR [options]
       node runtime/align.js            (no --model/--data: built-in demo, downloads nothing)

Trains a LoRA adapter for safety alignment (SFT or Vaccine) and saves it in PEFT format
(adapter_model.safetensors + adapter_config.json) with metrics.jsonl, in --out.`,
    groups: TRAIN_GROUPS,
    footer: `${ALPHA_NOTE}

Exit codes: 0 done; 1 failure (e.g. a NaN or Inf: no adapter is written, checkpoints are kept);
2 bad input (options, data, model, tokenizer or adapter): nothing is written to --out;
130 / 143 stopped by Ctrl-C / SIGTERM after the current step, with a checkpoint and the command
that resumes it printed (a second Ctrl-C exits at once). With stdout closed (piped into head),
the run goes on silently and saves its outputs.`,
  });
}

async function main(argv: string[]): Promise<number> {
  return runCli('align', CLI_OPTIONS, argv, helpText, async (opts, mode, signal) => {
    const demo = !opts.model && !opts.data;
    if (!demo && (!opts.model || !opts.data)) {
      throw new InputError(`${opts.model ? '--data' : '--model'} is missing: give both --model and --data (or neither for the built-in demo)`);
    }
    if (!demo && !opts.out) throw new InputError('--out is missing: the directory to write the adapter into');
    const cb: AlignCallbacks = { ...progress(mode), signal };
    if (demo) return runDemo(opts, cb, mode);
    const t0 = performance.now();
    return reportSaved(await align(opts, cb), t0, mode);
  });
}

async function runDemo(opts: Partial<AlignOptions>, cb: AlignCallbacks, mode: Mode): Promise<number> {
  const config = tinyLlamaConfig();
  const seed = opts.seed ?? D.seed;
  const out = opts.out ?? DEMO_OUT;
  const line = (s: string) => { if (mode !== 'quiet' && mode !== 'json') say(s + '\n'); };
  line('Built-in demo: a tiny random Llama (dim 64, 2 layers, byte tokenizer) aligned on a generated set of');
  line(`${DEMO.rows} harmful-style instructions with refusals. Nothing is downloaded.\n`);
  const t0 = performance.now();
  const res = await align({
    maxSteps: DEMO.steps, lr: DEMO.lr, maxLength: DEMO.maxLength, backend: DEMO.backend,
    // the demo's own folder is rewritten on every run (unless the user names one, or resumes)
    overwrite: opts.out === undefined && !opts.resume,
    ...stripUndefined(opts),
    model: { config, weights: randomLlamaWeights(config, seed) }, tokenizer: new ByteTokenizer(),
    data: demoAlignmentRows(DEMO.rows, seed), out,
  }, cb);
  if (res.interrupted && !res.interrupted.finished) return 0; // runCli turns it into 130 / 143
  const s = (performance.now() - t0) / 1000;
  const first = res.metrics[0], last = res.metrics.slice(-5);
  const avg = last.reduce((a, m) => a + m.loss, 0) / Math.max(1, last.length);
  if (mode === 'json') {
    say(JSON.stringify({ event: 'done', out, steps: res.steps, seconds: s, first_loss: first?.loss, last_loss: avg }) + '\n');
    return 0;
  }
  line(`\nDone in ${s.toFixed(1)} s: loss ${first ? first.loss.toFixed(3) : '?'} at step 1 -> ${avg.toFixed(3)} (mean of the last ${last.length} steps).`);
  line(`Adapter (PEFT format) and metrics.jsonl are in ${out}\n`);
  line('Now point it at a real model and data, e.g.:');
  line('  node runtime/align.js --model path/to/stories260K.bin --data safety_refusals.jsonl --out runs/vaccine \\');
  line('      --method vaccine --rho 2 --max-steps 200 --lr 1e-3');
  line('  node runtime/align.js --model path/to/hf-model-dir --data beavertails_safe.jsonl --out runs/sft --method sft --epochs 1');
  line('Run with --help for every option.');
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
