// The benchmark harness (issue 10): kernels at the shapes real models use, SFT and Vaccine training
// steps for the stories260K / 15M / 110M shapes, peak memory and allocations per step, and with
// --compare-torch PyTorch doing the same work in the same run (bench/torch_bench.py). Writes JSON
// and a markdown table naming the machine, its load, the threads and the kernel build.
//
//   npm run bench -- [options]          (node --import tsx bench/run.ts)
//   npm run bench -- --help
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_KINDS, type BackendKind } from '../bindings/registry.ts';
import { selectBackend } from '../bindings/select.ts';
import { describeKernel, sgemmKernels, shapeKernels, timeKernels, type Kernel } from './lib/kernels.ts';
import { markdown, targets, type BenchResults, type KernelRow, type KernelRun, type StepRun } from './lib/report.ts';
import { benchBatch, llamaConfig, SHAPES, shapeLabel } from './lib/shapes.ts';
import { median, type StepResult, type StepSpec } from './lib/steps.ts';
import { runTorch, torchUnavailable, type TorchKernels, type TorchSteps } from './lib/torch.ts';

const HELP = `Usage: npm run bench -- [options]      (node --import tsx bench/run.ts [options])

Measures kernels (matmul at the projections' shapes and their dX = dY W, the vocabulary
projection, LoRA forward/backward, attention forward/backward, sgemm 1024^3) and training steps
(SFT and Vaccine: the trainer's whole optimizer step with align's step functions, LoRA r 8 on the
seven projections, AdamW) on random weights of llama2.c's TinyStories shapes, with 5 rows of
safety_refusals.jsonl (max length 200) tokenized by the shape's tokenizer when ../shared/data has
them. Writes DIR/NAME.json and DIR/NAME.md and prints the markdown.

Options:
  --shapes LIST         260k, 15m, 110m, or all (default 260k,15m; 110m takes ~12 s a step)
  --backends LIST       ${BACKEND_KINDS.filter((k) => k !== 'auto').join(', ')} (default wasm)
  --threads LIST        WASM worker threads, and PyTorch's (default 2)
  --what LIST           kernels, steps (default both)
  --steps N             timed steps per method (default 260k 5, 15m 3, 110m 2)
  --warmup N            untimed steps per method first (default 1)
  --rounds N            repeat the measurements N times, the engine and PyTorch taking turns, and
                        pool them (kernels: best of all; steps: all timed steps), so that a load
                        that changes during the run falls on both (default 1)
  --kernel-seconds X    time each kernel for at least X s (default 0.25)
  --compare-torch       run bench/torch_bench.py on the same kernels and steps (PyTorch on the CPU,
                        same threads) and print the ratios and issue 10's targets; skipped with
                        one line where python3 has no torch ($VACCINE_BENCH_PYTHON picks the python)
  --torch-omp-wait P    passive, active or default: OMP_WAIT_POLICY for PyTorch's threads
                        (default passive: they sleep when idle, as the WASM pool's workers do;
                        OpenMP's spinning collapses on a machine busier than its cores)
  --rows N              batch rows (default 5)
  --max-length N        truncate rows to N tokens (default 200)
  --lora-r N            (default 8)
  --lora-alpha X        (default 16)
  --lora-dropout X      (default 0.1, align's default)
  --rho X               Vaccine's perturbation norm (default 2)
  --out DIR             where NAME.json and NAME.md go (default bench/out)
  --profile DIR         also write a trace of each step measurement (SHAPE-BACKEND-THREADSt-rROUND
                        .trace.json in DIR: every op and phase, as align --profile writes) and print
                        its per-kernel table; the profiler adds its cost to the step times
  --name NAME           (default bench-<date>T<time>)
  -h, --help            this text

The WASM kernels are the FMA build where V8 accepts relaxed SIMD (the report names the build);
VACCINE_WASM_FMA=0 runs the plain build.

A quick run (the defaults, about a minute on 2 cores): npm run bench
The issue's comparison: npm run bench -- --compare-torch --shapes 260k,15m --threads 2`;

class UsageError extends Error {}

const { values: v } = (() => {
  try {
    return parseArgs({
      options: {
        shapes: { type: 'string', default: '260k,15m' }, backends: { type: 'string', default: 'wasm' },
        threads: { type: 'string', default: '2' }, what: { type: 'string', default: 'kernels,steps' },
        steps: { type: 'string' }, warmup: { type: 'string', default: '1' }, rounds: { type: 'string', default: '1' }, 'kernel-seconds': { type: 'string', default: '0.25' },
        'compare-torch': { type: 'boolean', default: false }, 'torch-omp-wait': { type: 'string', default: 'passive' }, rows: { type: 'string', default: '5' },
        'max-length': { type: 'string', default: '200' }, 'lora-r': { type: 'string', default: '8' },
        'lora-alpha': { type: 'string', default: '16' }, 'lora-dropout': { type: 'string', default: '0.1' },
        rho: { type: 'string', default: '2' }, out: { type: 'string', default: 'bench/out' }, name: { type: 'string' }, profile: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true, allowPositionals: false,
    });
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message} (see --help)\n`);
    process.exit(2);
  }
})();

function num(flag: string, s: string | undefined, ok: (x: number) => boolean, what: string): number {
  const x = Number(s);
  if (s === undefined || s.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new UsageError(`--${flag} must be ${what}, got '${s}'`);
  return x;
}
const int = (flag: string, s: string | undefined, lo: number) => num(flag, s, (x) => Number.isInteger(x) && x >= lo, `an integer >= ${lo}`);
function list<T extends string>(flag: string, s: string, allowed: readonly T[]): T[] {
  const items = s.split(',').map((x) => x.trim()).filter(Boolean);
  for (const x of items) if (!allowed.includes(x as T)) throw new UsageError(`--${flag}: unknown '${x}' (expected ${allowed.join(', ')})`);
  if (items.length === 0) throw new UsageError(`--${flag} is empty`);
  return items as T[];
}

function nonEmpty(flag: string, s: string): string {
  if (s.trim() === '') throw new UsageError(`--${flag} needs a directory`);
  return s;
}

function choice<T extends string>(flag: string, s: string, allowed: readonly T[]): T {
  if (!allowed.includes(s as T)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got '${s}'`);
  return s as T;
}

function settings() {
  const shapes = v.shapes === 'all' ? Object.keys(SHAPES) : list('shapes', v.shapes!, Object.keys(SHAPES));
  return {
    shapes,
    backends: list('backends', v.backends!, BACKEND_KINDS.filter((k) => k !== 'auto') as Exclude<BackendKind, 'auto'>[]),
    threads: v.threads!.split(',').map((t) => int('threads', t, 1)),
    what: list('what', v.what!, ['kernels', 'steps'] as const),
    steps: v.steps === undefined ? null : int('steps', v.steps, 1),
    warmup: int('warmup', v.warmup, 0),
    rounds: int('rounds', v.rounds, 1),
    kernelSeconds: num('kernel-seconds', v['kernel-seconds'], (x) => x >= 0, 'a number >= 0'),
    compareTorch: v['compare-torch']!,
    torchOmpWait: choice('torch-omp-wait', v['torch-omp-wait']!, ['passive', 'active', 'default'] as const),
    rows: int('rows', v.rows, 1), maxLength: int('max-length', v['max-length'], 2),
    loraR: int('lora-r', v['lora-r'], 1), loraAlpha: num('lora-alpha', v['lora-alpha'], (x) => x > 0, 'a number > 0'),
    loraDropout: num('lora-dropout', v['lora-dropout'], (x) => x >= 0 && x < 1, 'a number in [0, 1)'),
    rho: num('rho', v.rho, (x) => x >= 0, 'a number >= 0'),
    profile: v.profile === undefined ? null : nonEmpty('profile', v.profile),
  };
}

function gitDescribe(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${sha} (with uncommitted changes)` : sha;
  } catch { return 'unknown'; }
}

/** Pools a later round's steps into the first round's result. */
function mergeSteps(into: StepResult, r: StepResult): void {
  for (const m of ['sft', 'vaccine'] as const) {
    const a = into[m], b = r[m], n = a.ms.length, k = b.ms.length;
    a.allocsPerStep = (a.allocsPerStep * n + b.allocsPerStep * k) / (n + k);
    a.freesPerStep = (a.freesPerStep * n + b.freesPerStep * k) / (n + k);
    if (a.deviceBuffersPerStep !== null && b.deviceBuffersPerStep !== null) a.deviceBuffersPerStep = (a.deviceBuffersPerStep * n + b.deviceBuffersPerStep * k) / (n + k);
    a.ms.push(...b.ms);
    a.medianMs = median(a.ms);
    a.minMs = Math.min(...a.ms);
    a.peakBytes = Math.max(a.peakBytes, b.peakBytes);
  }
  into.maxRssBytes = Math.max(into.maxRssBytes, r.maxRssBytes);
  into.seconds += r.seconds;
}

/** Runs bench/lib/steps.ts in a child process (fresh memory, its own peak RSS). */
function stepChild(spec: StepSpec): Promise<StepResult> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [...process.execArgv, new URL('./lib/steps.ts', import.meta.url).pathname, JSON.stringify(spec)],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', fail);
    child.on('close', (code) => {
      if (code !== 0) { fail(new Error(`step measurement (${spec.shape}, ${spec.backend}) exited with code ${code}`)); return; }
      try { ok(JSON.parse(out.trim().split('\n').pop()!) as StepResult); } catch (e) { fail(e); }
    });
  });
}

async function main(): Promise<number> {
  if (v.help) { process.stdout.write(HELP + '\n'); return 0; }
  let s: ReturnType<typeof settings>;
  try { s = settings(); } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench: ${e.message} (see --help)\n`);
    return 2;
  }
  if (s.profile) mkdirSync(resolve(s.profile), { recursive: true });
  const t0 = performance.now();
  const date = new Date();
  const name = v.name ?? `bench-${date.toISOString().slice(0, 19).replace(/:/g, '-')}`;
  const say = (line: string) => process.stderr.write(line + '\n');
  const results: BenchResults = {
    name, date: date.toISOString(), command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown CPU', cores: cpus().length, node: process.version, platform: `${platform()} ${release()}`,
      git: gitDescribe(), loadStart: loadavg(), loadEnd: [], loadDuring: [],
    },
    settings: s, torch: null, kernels: [], steps: [], seconds: 0,
  };
  say(`bench: ${results.machine.cpu}, ${results.machine.cores} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

  let torchOk = false;
  if (s.compareTorch) {
    const why = torchUnavailable();
    if (why) say(`bench: PyTorch comparison skipped: ${why}`);
    results.torch = { version: null, unavailable: why };
    torchOk = why === null;
  }

  const sample = () => results.machine.loadDuring.push(loadavg()[0]);

  // ---- kernels: each round measures the engine's backends, then PyTorch; a kernel's time is its best over the rounds ----
  if (s.what.includes('kernels')) {
    const kernels: Kernel[] = [...sgemmKernels()];
    for (const shape of s.shapes) kernels.push(...shapeKernels(SHAPES[shape], s.rows, s.maxLength, s.loraR));
    for (let round = 1; round <= s.rounds; round++) {
      const tag = s.rounds > 1 ? ` (round ${round} of ${s.rounds})` : '';
      for (const kind of s.backends) {
        for (const threads of kind === 'wasm' ? s.threads : [0]) {
          sample();
          const backend = await selectBackend(kind, { quiet: true, threads: kind === 'wasm' ? threads : undefined });
          say(`bench: kernels on ${backend.description}${tag}`);
          const times = await timeKernels(backend, kernels, s.kernelSeconds, (k, t) => {
            say(`  ${describeKernel(k).padEnd(44)} ${t.bestMs.toFixed(2).padStart(9)} ms ${(k.flops / t.bestMs / 1e6).toFixed(1).padStart(7)} GFLOP/s  (${k.roles.join(', ')})`);
          });
          let run = results.kernels.find((r) => r.kind === kind && r.threads === threads);
          if (!run) {
            run = { backend: backend.description, kind, threads, rows: kernels.map((k): KernelRow => ({ ...k, what: describeKernel(k), bestMs: Infinity, torchMs: null })) };
            results.kernels.push(run);
          }
          run.rows.forEach((row, i) => { row.bestMs = Math.min(row.bestMs, times[i].bestMs); });
          await backend.destroy();
        }
      }
      if (torchOk) {
        for (const threads of s.threads) {
          sample();
          say(`bench: PyTorch kernels, ${threads} threads${tag}`);
          const t = runTorch<TorchKernels>('kernels', { threads, min_seconds: s.kernelSeconds, kernels: kernels.map((k) => ({ id: k.id, spec: k.spec })) }, s.torchOmpWait);
          results.torch!.version = t.torch;
          for (const run of results.kernels.filter((r) => r.kind === 'wasm' && r.threads === threads)) {
            for (const row of run.rows) {
              const ms = t.results.find((x) => x.id === row.id)?.best_ms;
              if (ms !== undefined) row.torchMs = Math.min(row.torchMs ?? Infinity, ms);
            }
          }
        }
      }
    }
  }

  // ---- training steps: each round runs every configuration, the engine then PyTorch; the rounds' steps are pooled ----
  if (s.what.includes('steps')) {
    for (let round = 1; round <= s.rounds; round++) {
      const tag = s.rounds > 1 ? ` (round ${round} of ${s.rounds})` : '';
      for (const shape of s.shapes) {
        const sh = SHAPES[shape];
        for (const kind of s.backends) {
          for (const threads of kind === 'wasm' ? s.threads : [0]) {
            const spec: StepSpec = {
              shape, backend: kind, threads, steps: s.steps ?? sh.defaultSteps, warmup: s.warmup, rows: s.rows, maxLength: s.maxLength,
              loraR: s.loraR, loraAlpha: s.loraAlpha, loraDropout: s.loraDropout, rho: s.rho, seed: 1,
              ...(s.profile ? { profile: join(resolve(s.profile), `${shape}-${kind}-${threads}t-r${round}.trace.json`) } : {}),
            };
            sample();
            say(`bench: steps, ${shapeLabel(sh)} on ${kind}${kind === 'wasm' ? `, ${threads} threads` : ''} (${spec.warmup} warm-up + ${spec.steps} timed per method)${tag}...`);
            const result = await stepChild(spec);
            say(`  SFT ${result.sft.ms.map((x) => x.toFixed(0)).join(', ')} ms; Vaccine ${result.vaccine.ms.map((x) => x.toFixed(0)).join(', ')} ms; `
              + `peak ${(result.sft.peakBytes / 2 ** 20).toFixed(1)} / ${(result.vaccine.peakBytes / 2 ** 20).toFixed(1)} MiB; `
              + `allocs/step ${result.sft.allocsPerStep} / ${result.vaccine.allocsPerStep}`);
            let run = results.steps.find((r) => r.shape === shape && r.kind === kind && r.threads === threads);
            if (!run) { run = { shape, kind, threads, result, torch: null }; results.steps.push(run); } else mergeSteps(run.result, result);
            if (torchOk && kind === 'wasm') {
              sample();
              say(`bench: PyTorch steps, ${shapeLabel(sh)}, ${threads} threads${tag}...`);
              const c = llamaConfig(sh);
              const { batch } = benchBatch(sh, spec);
              const t = runTorch<TorchSteps>('steps', {
                threads, steps: spec.steps, warmup: spec.warmup, r: s.loraR, alpha: s.loraAlpha, dropout: s.loraDropout, rho: s.rho, seed: 1,
                cfg: {
                  hidden_size: c.dim, intermediate_size: c.hiddenDim, vocab_size: c.vocabSize, num_hidden_layers: c.nLayers,
                  num_attention_heads: c.nHeads, num_key_value_heads: c.nKvHeads, head_dim: c.headDim, rms_norm_eps: c.normEps,
                  rope_theta: c.ropeTheta, tie_word_embeddings: c.tiedEmbeddings,
                },
                batch: { B: batch.B, T: batch.T, ids: [...batch.ids], labels: [...batch.labels], lengths: [...batch.lengths] },
              }, s.torchOmpWait);
              results.torch!.version = t.torch;
              say(`  PyTorch SFT ${t.sft.ms.map((x) => x.toFixed(0)).join(', ')} ms; Vaccine ${t.vaccine.ms.map((x) => x.toFixed(0)).join(', ')} ms`);
              if (!run.torch) run.torch = { sftMs: t.sft.ms, vaccineMs: t.vaccine.ms, losses: t.losses, maxRssBytes: t.max_rss_bytes };
              else {
                run.torch.sftMs.push(...t.sft.ms);
                run.torch.vaccineMs.push(...t.vaccine.ms);
                run.torch.maxRssBytes = Math.max(run.torch.maxRssBytes, t.max_rss_bytes);
              }
            }
          }
        }
      }
    }
  }

  results.machine.loadEnd = loadavg();
  results.seconds = (performance.now() - t0) / 1000;
  const outDir = resolve(v.out!);
  mkdirSync(outDir, { recursive: true });
  const md = markdown(results);
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify({ ...results, targets: targets(results) }, null, 1) + '\n');
  writeFileSync(join(outDir, `${name}.md`), md + '\n');
  process.stdout.write(md + '\n');
  say(`bench: wrote ${join(outDir, name)}.json and .md (${results.seconds.toFixed(0)} s)`);
  return 0;
}

process.exitCode = await main();
process.exit();
