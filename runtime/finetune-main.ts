// `node runtime/finetune.js`: the command line over engine/jobs/finetune.ts (the attack: a user's
// fine-tune with harmful rows mixed in). Its flags, defaults, checks and --help come from the
// finetune option table (FINETUNE_OPTIONS); this file adds the help's framing and the closing
// line. Progress and exit codes are runtime/cli.ts's. No training logic lives here.
import { finetune, FINETUNE_GROUPS, FINETUNE_OPTIONS, type FinetuneCallbacks } from '../engine/jobs/finetune.ts';
import { formatHelp } from '../engine/jobs/options.ts';
import { ALPHA_NOTE } from '../engine/jobs/presets.ts';
import { outputOptions, progress, reportSaved, runCli, say } from './cli.ts';

const CLI_OPTIONS = {
  ...FINETUNE_OPTIONS,
  ...outputOptions('Run control'),
};

function helpText(): string {
  return formatHelp(CLI_OPTIONS, {
    usage: `Usage: node runtime/finetune.js --model PATH --task T --benign FILE [--harmful FILE] --out DIR [options]

The harmful fine-tuning attack: merges an alignment adapter into the base weights
(--merge-adapter, the paper's Double-LoRA), then trains a new LoRA with SFT on the user's task
data with a fraction p of harmful rows mixed in, as the Vaccine reference builds that mix.
Saves the adapter in PEFT format (adapter_model.safetensors + adapter_config.json) with
metrics.jsonl and mix.json (the rows used, the files' sha256) in --out. Defaults are those of
the reference's attack scripts (script/*_finetune/*.sh).`,
    groups: FINETUNE_GROUPS,
    footer: `Truncation: examples are cut to --max-length tokens; the run says how many rows were cut and
skips (saying how many) rows left with no answer token: with a 512-token vocabulary an SST-2
row is ~205 tokens, so the default 200 cuts the label off in about half of them. mix.json
records the rows picked and what --max-length did to them.

${ALPHA_NOTE}

Exit codes: 0 done; 1 failure (e.g. a NaN or Inf: no adapter is written, checkpoints are kept);
2 bad input (options, data, model, tokenizer or adapter): nothing is written to --out;
130 / 143 stopped by Ctrl-C / SIGTERM after the current step, with a checkpoint and the command
that resumes it printed.`,
  });
}

async function main(argv: string[]): Promise<number> {
  return runCli('finetune', CLI_OPTIONS, argv, helpText, async (opts, mode, signal) => {
    const shown = progress(mode);
    const cb: FinetuneCallbacks = {
      ...shown,
      signal,
      onStart(info) {
        const m = info.mix;
        // the start event carries the mix's counts; its row lists are in mix.json
        shown.onStart?.({ ...info, mix: { task: m.task, n: m.n, p: m.p, harmful_rows: m.harmful_rows, benign_rows: m.benign_rows } } as typeof info);
        const harm = m.harmful ? `${m.harmful_rows} harmful rows of ${m.harmful.file}` : 'no harmful rows';
        if (mode === 'plain' || mode === 'tty') say(`mix: ${harm} + ${m.benign_rows} ${m.task} rows of ${m.benign.file} (p ${m.p}, n ${m.n}); mix.json in ${info.out}\n`);
      },
    };
    const t0 = performance.now();
    return reportSaved(await finetune(opts, cb), t0, mode);
  });
}

process.exitCode = await main(process.argv.slice(2));
