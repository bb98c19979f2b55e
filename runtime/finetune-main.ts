// `node runtime/finetune.js`: the command line over engine/jobs/finetune.ts (the attack: a user's
// fine-tune with harmful rows mixed in). Its flags, defaults, checks and --help come from the
// finetune option table (FINETUNE_OPTIONS); this file adds the help's framing and the closing
// line. Progress and exit codes are runtime/cli.ts's. No training logic lives here.
import { finetune, FINETUNE_GROUPS, FINETUNE_OPTIONS, type FinetuneCallbacks } from '../engine/jobs/finetune.ts';
import { formatHelp, opt } from '../engine/jobs/options.ts';
import { outputOptions, progress, runCli } from './cli.ts';

const CLI_OPTIONS = {
  ...FINETUNE_OPTIONS,
  // read by runtime/launch.js, which then leaves stderr unfiltered (runtime/dawn-noise.js)
  verbose: opt.boolean({ group: 'Run control', default: false, help: 'also show Dawn\'s own WebGPU warnings on stderr (hidden by default)' }),
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
    footer: `Truncation: examples are cut to --max-length tokens; when that cuts answers off (an SST-2 row
is ~205 tokens with a 512-token vocabulary), a warning says how many.

Exit codes: 0 done, 1 failure, 2 bad input (options, data, model or adapter); on bad input
nothing is written to --out.`,
  });
}

async function main(argv: string[]): Promise<number> {
  return runCli('finetune', CLI_OPTIONS, argv, helpText, async ({ quiet: _q, json: _j, help: _h, verbose: _v, ...opts }, mode) => {
    const shown = progress(mode);
    const cb: FinetuneCallbacks = {
      ...shown,
      onStart(info) {
        const m = info.mix;
        // the start event carries the mix's counts; its row lists are in mix.json
        shown.onStart?.({ ...info, mix: { task: m.task, n: m.n, p: m.p, harmful_rows: m.harmful_rows, benign_rows: m.benign_rows } } as typeof info);
        const harm = m.harmful ? `${m.harmful_rows} harmful rows of ${m.harmful.file}` : 'no harmful rows';
        if (mode === 'plain' || mode === 'tty') process.stdout.write(`mix: ${harm} + ${m.benign_rows} ${m.task} rows of ${m.benign.file} (p ${m.p}, n ${m.n}); mix.json in ${info.out}\n`);
      },
    };
    const t0 = performance.now();
    const res = await finetune(opts, cb);
    const s = (performance.now() - t0) / 1000;
    if (mode === 'json') process.stdout.write(JSON.stringify({ event: 'done', out: res.out, steps: res.steps, seconds: s }) + '\n');
    else if (mode !== 'quiet') process.stdout.write(`adapter saved to ${res.out} (${res.steps} steps, ${s.toFixed(1)} s)\n`);
    return 0;
  });
}

process.exitCode = await main(process.argv.slice(2));
