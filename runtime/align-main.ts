// `node runtime/align.js`: the command line over engine/jobs/align.ts. It parses and checks the
// options, shows progress, maps bad input to exit code 2, and runs a built-in demo when neither
// --model nor --data is given. No training logic lives here.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { demoAlignmentRows, randomLlamaWeights, tinyLlamaConfig } from '../engine/demo.ts';
import {
  align, ALIGN_DEFAULTS, ALIGN_METHODS, AlignInputError, BACKENDS, OPTIMIZERS, SCHEDULERS, stripUndefined,
  type AlignCallbacks, type AlignOptions, type AlignStartInfo, type StepMetrics,
} from '../engine/jobs/align.ts';
import { ByteTokenizer } from '../engine/tokenizer/bytes.ts';

const D = ALIGN_DEFAULTS;
const DEMO = { steps: 200, lr: 1e-2, rows: 200, maxLength: 256, backend: 'wasm' };

const HELP = `Usage: node runtime/align.js --model PATH --data PATH --out DIR [options]
       node runtime/align.js            (no --model/--data: built-in demo, downloads nothing)

Trains a LoRA adapter for safety alignment (SFT or Vaccine) and saves it in PEFT format
(adapter_model.safetensors + adapter_config.json) with metrics.jsonl, in --out.

Inputs and output
  --model PATH            Hugging Face model directory, or llama2.c .bin checkpoint
  --tokenizer PATH        tokenizer file (default: the one beside the model)
  --data PATH             JSON array or JSONL; rows {instruction, input?, output} or {prompt, response}
  --out DIR               output directory (created; demo default: ${join(tmpdir(), 'vaccine-align-demo')})

Method
  --method M              sft | vaccine | random-vaccine (default ${D.method})
  --rho X                 perturbation size (default ${D.rho}); Vaccine: the perturbation's L2 norm;
                          random-vaccine: the VARIANCE of the Gaussian noise (std = sqrt(rho))

Schedule and optimizer
  --epochs N              passes over the data (default ${D.epochs})
  --max-steps N           optimizer steps; overrides --epochs (default: from epochs)
  --batch-size N          examples per micro-batch (default ${D.batchSize})
  --grad-accum N          micro-batches per optimizer step (default ${D.gradAccum})
  --lr X                  peak learning rate (default ${D.lr})
  --weight-decay X        AdamW decoupled weight decay (default ${D.weightDecay})
  --warmup-ratio X        warmup steps = ceil(X * total steps) (default ${D.warmupRatio})
  --scheduler S           cosine | linear | constant (default ${D.scheduler}); cosine/linear as HF's
                          get_*_schedule_with_warmup; constant as HF's get_constant_schedule:
                          fixed lr, no warmup (--warmup-ratio is ignored)
  --max-grad-norm X       clip the LoRA gradients' total L2 norm to X before each step, as
                          torch clip_grad_norm_ (default ${D.maxGradNorm}: HF Trainer's default, which the
                          Vaccine reference scripts use; 0: no clipping)
  --optimizer O           adamw | sgd (default ${D.optimizer}); adamw as torch.optim.AdamW
                          (betas 0.9/0.999, eps 1e-8); sgd: p -= lr*g (for tests)

LoRA
  --lora-r N              rank (default ${D.loraR})
  --lora-alpha X          scale alpha/r (default ${D.loraAlpha})
  --lora-dropout X        dropout on the adapter's input (default ${D.loraDropout})
  --lora-targets LIST     comma-separated (default ${D.loraTargets})

Run control
  --max-length N          truncate examples to N tokens (default ${D.maxLength})
  --seed N                LoRA init, data order, dropout, noise (default ${D.seed})
  --no-shuffle            keep the data file's order
  --init-adapter DIR      start from this PEFT adapter (its r, alpha and targets are used)
  --merge-adapter DIR     merge this adapter into the base weights first (Double-LoRA)
  --backend B             auto | webgpu | wasm (default ${D.backend}; demo: ${DEMO.backend}). auto takes a
                          hardware WebGPU adapter, else WASM and prints why (a CPU software renderer
                          such as lavapipe is slower than WASM: --backend webgpu forces it)
  --weights f32|f16       storage of the frozen weights; f16 needs WebGPU with shader-f16 (default ${D.weights})
  --threads N             WASM worker threads, 1..64 (default: CPU cores, at most 8)
  --save-every N          checkpoint every N optimizer steps into DIR/checkpoint-N (default 0: never)
  --resume                continue from the latest checkpoint in --out
  --quiet                 print only errors
  --json                  print JSON lines (start, step, checkpoint, done, error)
  -h, --help              this text

Exit codes: 0 done, 1 failure, 2 bad input (options, data, model or adapter); on bad input
nothing is written to --out.`;

const OPTIONS = {
  model: { type: 'string' }, tokenizer: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' },
  method: { type: 'string' }, rho: { type: 'string' }, epochs: { type: 'string' }, 'max-steps': { type: 'string' },
  'batch-size': { type: 'string' }, 'grad-accum': { type: 'string' }, lr: { type: 'string' },
  'weight-decay': { type: 'string' }, 'max-grad-norm': { type: 'string' }, 'warmup-ratio': { type: 'string' }, scheduler: { type: 'string' },
  optimizer: { type: 'string' }, 'lora-r': { type: 'string' }, 'lora-alpha': { type: 'string' },
  'lora-dropout': { type: 'string' }, 'lora-targets': { type: 'string' }, 'max-length': { type: 'string' },
  seed: { type: 'string' }, 'no-shuffle': { type: 'boolean' }, 'init-adapter': { type: 'string' },
  'merge-adapter': { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' }, weights: { type: 'string' },
  'save-every': { type: 'string' }, resume: { type: 'boolean' }, quiet: { type: 'boolean' }, json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseCli>['values'];

function parseCli(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
}

/** A number option: undefined when absent; AlignInputError when not a number. */
function num(v: Values, name: keyof Values): number | undefined {
  const s = v[name];
  if (s === undefined) return undefined;
  const x = Number(s);
  if (typeof s !== 'string' || s.trim() === '' || !Number.isFinite(x)) throw new AlignInputError(`--${name} must be a number, got '${s}'`);
  return x;
}

function choice<T extends string>(v: Values, name: keyof Values, allowed: readonly T[]): T | undefined {
  const s = v[name] as string | undefined;
  if (s === undefined) return undefined;
  if (!allowed.includes(s as T)) throw new AlignInputError(`--${name} must be one of ${allowed.join(', ')}, got '${s}'`);
  return s as T;
}

function optionsFrom(v: Values): Partial<AlignOptions> {
  return {
    model: v.model, tokenizer: v.tokenizer, data: v.data, out: v.out,
    method: choice(v, 'method', ALIGN_METHODS), rho: num(v, 'rho'), epochs: num(v, 'epochs'),
    maxSteps: num(v, 'max-steps'), batchSize: num(v, 'batch-size'), gradAccum: num(v, 'grad-accum'),
    lr: num(v, 'lr'), weightDecay: num(v, 'weight-decay'), maxGradNorm: num(v, 'max-grad-norm'), warmupRatio: num(v, 'warmup-ratio'),
    scheduler: choice(v, 'scheduler', SCHEDULERS), optimizer: choice(v, 'optimizer', OPTIMIZERS),
    loraR: num(v, 'lora-r'), loraAlpha: num(v, 'lora-alpha'), loraDropout: num(v, 'lora-dropout'),
    loraTargets: v['lora-targets'], maxLength: num(v, 'max-length'), seed: num(v, 'seed'),
    shuffle: v['no-shuffle'] ? false : undefined, initAdapter: v['init-adapter'], mergeAdapter: v['merge-adapter'],
    backend: choice(v, 'backend', BACKENDS), threads: num(v, 'threads'), weights: choice(v, 'weights', ['f32', 'f16'] as const), saveEvery: num(v, 'save-every'),
    resume: v.resume,
  };
}

// ---- progress -----------------------------------------------------------------------------------

type Mode = 'tty' | 'plain' | 'json' | 'quiet';

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60), sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(sec).padStart(2, '0')}`;
}

function progress(mode: Mode): AlignCallbacks & { done(): void } {
  const out = (s: string) => process.stdout.write(s);
  let info: AlignStartInfo | null = null;
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
    done() {},
  };
}

// ---- main -----------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  let values: Values;
  try { values = parseCli(argv).values; } catch (e) {
    process.stderr.write(`align: ${(e as Error).message}\n(see --help)\n`);
    return 2;
  }
  if (values.help) { process.stdout.write(HELP + '\n'); return 0; }
  const mode: Mode = values.json ? 'json' : values.quiet ? 'quiet' : process.stdout.isTTY ? 'tty' : 'plain';
  const fail = (e: Error, code: number) => {
    if (mode === 'json') process.stdout.write(JSON.stringify({ event: 'error', message: e.message, exit_code: code }) + '\n');
    process.stderr.write(`align: ${code === 2 ? '' : 'failed: '}${e.message}\n`);
    if (code !== 2 && process.env.ALIGN_DEBUG) process.stderr.write(`${e.stack}\n`);
    return code;
  };
  try {
    const opts = optionsFrom(values);
    const demo = !opts.model && !opts.data;
    if (!demo && (!opts.model || !opts.data)) {
      throw new AlignInputError(`${opts.model ? '--data' : '--model'} is missing: give both --model and --data (or neither for the built-in demo)`);
    }
    if (!demo && !opts.out) throw new AlignInputError('--out is missing: the directory to write the adapter into');
    const cb = progress(mode);
    if (demo) return await runDemo(opts, cb, mode);
    const t0 = performance.now();
    const res = await align(opts, cb);
    const s = (performance.now() - t0) / 1000;
    if (mode === 'json') process.stdout.write(JSON.stringify({ event: 'done', out: res.out, steps: res.steps, seconds: s }) + '\n');
    else if (mode !== 'quiet') process.stdout.write(`adapter saved to ${res.out} (${res.steps} steps, ${s.toFixed(1)} s)\n`);
    return 0;
  } catch (e) {
    return fail(e as Error, e instanceof AlignInputError ? 2 : 1);
  }
}

async function runDemo(opts: Partial<AlignOptions>, cb: AlignCallbacks, mode: Mode): Promise<number> {
  const config = tinyLlamaConfig();
  const seed = opts.seed ?? D.seed;
  const out = opts.out ?? join(tmpdir(), 'vaccine-align-demo');
  const say = (s: string) => { if (mode !== 'quiet' && mode !== 'json') process.stdout.write(s + '\n'); };
  say('Built-in demo: a tiny random Llama (dim 64, 2 layers, byte tokenizer) aligned on a generated set of');
  say(`${DEMO.rows} harmful-style instructions with refusals. Nothing is downloaded.\n`);
  const t0 = performance.now();
  const res = await align({
    maxSteps: DEMO.steps, lr: DEMO.lr, maxLength: DEMO.maxLength, backend: DEMO.backend as AlignOptions['backend'],
    ...stripUndefined(opts),
    model: { config, weights: randomLlamaWeights(config, seed) }, tokenizer: new ByteTokenizer(),
    data: demoAlignmentRows(DEMO.rows, seed), out,
  }, cb);
  const s = (performance.now() - t0) / 1000;
  const first = res.metrics[0], last = res.metrics.slice(-5);
  const avg = last.reduce((a, m) => a + m.loss, 0) / Math.max(1, last.length);
  if (mode === 'json') {
    process.stdout.write(JSON.stringify({ event: 'done', out, steps: res.steps, seconds: s, first_loss: first?.loss, last_loss: avg }) + '\n');
    return 0;
  }
  say(`\nDone in ${s.toFixed(1)} s: loss ${first ? first.loss.toFixed(3) : '?'} at step 1 -> ${avg.toFixed(3)} (mean of the last ${last.length} steps).`);
  say(`Adapter (PEFT format) and metrics.jsonl are in ${out}\n`);
  say('Now point it at a real model and data, e.g.:');
  say('  node runtime/align.js --model path/to/stories260K.bin --data safety_refusals.jsonl --out runs/vaccine \\');
  say('      --method vaccine --rho 2 --max-steps 200 --lr 1e-3');
  say('  node runtime/align.js --model path/to/hf-model-dir --data beavertails_safe.jsonl --out runs/sft --method sft --epochs 1');
  say('Run with --help for every option.');
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
