// The harness's results as JSON and as a markdown table, and issue 10's targets checked against them.
import type { Kernel } from './kernels.ts';
import { median, type StepResult } from './steps.ts';
import { SHAPES, shapeLabel } from './shapes.ts';

export interface Machine {
  cpu: string; cores: number; node: string; platform: string; git: string;
  /** 1, 5 and 15-minute load averages */
  loadStart: number[]; loadEnd: number[];
  /** the 1-minute load average as each measurement started */
  loadDuring: number[];
}

export interface KernelRow extends Kernel { what: string; bestMs: number; torchMs: number | null }
export interface KernelRun { backend: string; kind: string; threads: number; rows: KernelRow[] }

export interface TorchStepRow { sftMs: number[]; vaccineMs: number[]; losses: unknown; maxRssBytes: number }
export interface StepRun { shape: string; kind: string; threads: number; result: StepResult; torch: TorchStepRow | null }

export interface BenchResults {
  name: string; date: string; command: string; machine: Machine;
  settings: Record<string, unknown>;
  /** the PyTorch version, or why there is none (null: not asked for) */
  torch: { version: string | null; unavailable: string | null } | null;
  kernels: KernelRun[];
  steps: StepRun[];
  seconds: number;
}

const MiB = 2 ** 20;
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const gflops = (flops: number, ms: number) => flops / (ms / 1000) / 1e9;
const min = (xs: number[]) => Math.min(...xs);

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** PyTorch's step time over the engine's (fastest step of each): the issue's "ratio" (> 1: the engine is faster). */
export function speedup(engineMs: number[], torchMs: number[]): number { return min(torchMs) / min(engineMs); }

export interface TargetRow { measure: string; target: string; measured: string; met: boolean | null }

/** Issue 10's WASM targets, each with what this run measured (WASM, 2 threads) and whether it is met. */
export function targets(r: BenchResults): TargetRow[] {
  const out: TargetRow[] = [];
  const wasm2 = r.steps.filter((s) => s.kind === 'wasm' && s.threads === 2);
  const notMeasured = (measure: string, target: string, why: string): TargetRow => ({ measure, target, measured: why, met: null });
  const speedTargets: [string, number][] = [['260k', 8], ['15m', 5], ['110m', 2]];
  for (const [shape, want] of speedTargets) {
    const measure = `Vaccine step vs PyTorch, ${SHAPES[shape].model}`;
    const s = wasm2.find((x) => x.shape === shape);
    if (!s) out.push(notMeasured(measure, `>= ${want}x`, 'not run (WASM, 2 threads)'));
    else if (!s.torch) out.push(notMeasured(measure, `>= ${want}x`, 'no PyTorch figure (--compare-torch)'));
    else {
      const x = speedup(s.result.vaccine.ms, s.torch.vaccineMs);
      out.push({ measure, target: `>= ${want}x`, measured: `${f2(x)}x`, met: x >= want });
    }
  }
  for (const s of wasm2) {
    const t = min(s.result.vaccine.ms) / min(s.result.sft.ms);
    out.push({ measure: `Vaccine / SFT step time, ${SHAPES[s.shape].model}`, target: '<= 1.8', measured: f2(t), met: t <= 1.8 });
  }
  for (const s of wasm2) {
    const m = s.result.vaccine.peakBytes / s.result.sft.peakBytes;
    out.push({ measure: `Vaccine / SFT peak memory, ${SHAPES[s.shape].model}`, target: '<= 1.05', measured: f2(m), met: m <= 1.05 });
  }
  const sg = r.kernels.find((k) => k.kind === 'wasm' && k.threads === 2)?.rows.find((k) => k.id === 'sgemm:false');
  if (!sg) out.push(notMeasured('sgemm 1024^3 vs PyTorch', '>= 0.5x', 'not run (WASM, 2 threads, kernels)'));
  else if (sg.torchMs === null) out.push(notMeasured('sgemm 1024^3 vs PyTorch', '>= 0.5x', 'no PyTorch figure (--compare-torch)'));
  else {
    const x = sg.torchMs / sg.bestMs;
    out.push({ measure: 'sgemm 1024^3 vs PyTorch', target: '>= 0.5x', measured: `${f2(x)}x (${f1(gflops(sg.flops, sg.bestMs))} vs ${f1(gflops(sg.flops, sg.torchMs))} GFLOP/s)`, met: x >= 0.5 });
  }
  for (const s of wasm2) {
    const a = s.result.sft.allocsPerStep, b = s.result.vaccine.allocsPerStep;
    out.push({ measure: `allocations per steady-state step, ${SHAPES[s.shape].model}`, target: '0', measured: `SFT ${a}, Vaccine ${b}`, met: a === 0 && b === 0 });
  }
  return out;
}

export function markdown(r: BenchResults): string {
  const m = r.machine;
  const lines: string[] = [];
  const settings = r.settings as { rows: number; maxLength: number; loraR: number; loraAlpha: number; loraDropout: number; rho: number; torchOmpWait: string; profile?: string | null };
  lines.push(`# Benchmark: ${r.name}`, '');
  lines.push(`- Date: ${r.date}; command: \`${r.command}\`; ${f1(r.seconds)} s`);
  lines.push(`- Machine: ${m.cpu}, ${m.cores} cores, ${m.platform}; load average ${m.loadStart.map(f2).join(' / ')} (1/5/15 min) at the start, ${m.loadEnd.map(f2).join(' / ')} at the end`);
  if (m.loadDuring.length) lines.push(`- 1-minute load average as each measurement started: ${f2(min(m.loadDuring))} to ${f2(Math.max(...m.loadDuring))}`);
  lines.push(`- Node ${m.node}; git ${m.git}`);
  const backends = [...new Set([...r.kernels.map((k) => k.backend), ...r.steps.map((s) => s.result.backend)])];
  lines.push(`- Engine: ${backends.join('; ') || '-'}`);
  if (r.torch) lines.push(`- PyTorch: ${r.torch.version ? `${r.torch.version} (CPU), torch.set_num_threads as the engine's threads, OMP_WAIT_POLICY ${settings.torchOmpWait === 'default' ? (process.env.OMP_WAIT_POLICY ?? 'unset') : settings.torchOmpWait.toUpperCase()}` : `not measured: ${r.torch.unavailable}`}`);
  for (const st of r.steps.filter((x, i) => r.steps.findIndex((y) => y.shape === x.shape) === i)) {
    const b = st.result.batch;
    lines.push(`- Batch, ${SHAPES[st.shape].model}: ${b.source}, max length ${settings.maxLength}: B ${b.B} x T ${b.T} (${b.tokens} tokens, ${b.lossTokens} with a label)`);
  }
  lines.push(`- Steps: LoRA r ${settings.loraR} (alpha ${settings.loraAlpha}, dropout ${settings.loraDropout}) on q/k/v/o/gate/up/down, AdamW (weight decay 0.1), `
    + `gradient clipping at 1.0, Vaccine rho ${settings.rho}; random weights of each shape. A step is the trainer's whole optimizer step.`);
  if (settings.profile) lines.push(`- Profiled (--profile ${settings.profile}): every op went through the profiler, whose cost is in these step times.`);
  lines.push('');

  if (r.steps.length) {
    lines.push('## Training steps', '');
    lines.push('Step times in ms: median and fastest of the timed steps (SFT and Vaccine alternate, after one warm-up each). '
      + '"vs PyTorch" is PyTorch\'s fastest step time over the engine\'s (above 1: the engine is faster). Peak: highest bytes held '
      + 'by live backend buffers during a step (weights, adapter and optimizer state included). Allocations: backend alloc calls per step.', '');
    const hasTorch = r.steps.some((s) => s.torch);
    const header = ['shape', 'backend', 'threads', 'steps', 'SFT ms', 'Vaccine ms', 'Vaccine/SFT time', 'peak MiB SFT / Vaccine', 'Vaccine/SFT memory',
      'allocs/step SFT / Vaccine', 'max RSS MiB',
      ...(hasTorch ? ['PyTorch SFT ms', 'PyTorch Vaccine ms', 'SFT vs PyTorch', 'Vaccine vs PyTorch', 'PyTorch Vaccine/SFT'] : [])];
    const rows = r.steps.map((s) => {
      const e = s.result, t = s.torch;
      const ms = (xs: number[]) => `${f1(median(xs))} / ${f1(min(xs))}`;
      return [shapeLabel(SHAPES[s.shape]), s.kind, String(s.threads), String(e.sft.ms.length), ms(e.sft.ms), ms(e.vaccine.ms),
        f2(min(e.vaccine.ms) / min(e.sft.ms)), `${f1(e.sft.peakBytes / MiB)} / ${f1(e.vaccine.peakBytes / MiB)}`, f2(e.vaccine.peakBytes / e.sft.peakBytes),
        `${e.sft.allocsPerStep} / ${e.vaccine.allocsPerStep}`, f1(e.maxRssBytes / MiB),
        ...(hasTorch ? (t ? [ms(t.sftMs), ms(t.vaccineMs), `${f2(speedup(e.sft.ms, t.sftMs))}x`, `${f2(speedup(e.vaccine.ms, t.vaccineMs))}x`,
          f2(min(t.vaccineMs) / min(t.sftMs))] : ['-', '-', '-', '-', '-']) : [])];
    });
    lines.push(table(header, rows), '');
    const loss = (l: number, p: number | null) => `${l.toFixed(3)}${p === null ? '' : ` / ${p.toFixed(3)}`}`;
    lines.push('Losses of the first (warm-up) step, a check that both sides compute the same thing on weights of the same '
      + 'distribution (not the same values): ' + r.steps.map((s) => {
      const e = s.result, t = s.torch?.losses as { sft?: [number, null]; vaccine?: [number, number] } | undefined;
      return `${SHAPES[s.shape].model} ${s.kind}: SFT ${loss(e.sft.firstLoss, null)}, Vaccine ${loss(e.vaccine.firstLoss, e.vaccine.firstPerturbedLoss)}`
        + (t?.sft && t.vaccine ? `; PyTorch SFT ${loss(t.sft[0], null)}, Vaccine ${loss(t.vaccine[0], t.vaccine[1])}` : '');
    }).join('; ') + '.', '');
    const gpu = r.steps.filter((s) => s.result.sft.deviceBuffersPerStep !== null);
    if (gpu.length) {
      lines.push(`WebGPU buffers created per step (createBuffer: storage, staging, readback): ${gpu.map((s) => `${s.shape} ${s.kind} SFT ${s.result.sft.deviceBuffersPerStep}, Vaccine ${s.result.vaccine.deviceBuffersPerStep}`).join('; ')}.`, '');
    }
  }

  for (const k of r.kernels) {
    lines.push(`## Kernels: ${k.backend}`, '');
    lines.push('Fastest of repeated calls (at least 3, for at least the given time). "vs PyTorch": PyTorch\'s time over the engine\'s.', '');
    const hasTorch = k.rows.some((x) => x.torchMs !== null);
    const header = ['shape', 'kernel', 'roles', 'ms', 'GFLOP/s', ...(hasTorch ? ['PyTorch ms', 'PyTorch GFLOP/s', 'vs PyTorch'] : [])];
    const rows = k.rows.map((x) => [x.shape === 'sgemm' ? '-' : SHAPES[x.shape].model, x.what, x.roles.join(', '), f2(x.bestMs), f1(gflops(x.flops, x.bestMs)),
      ...(hasTorch ? (x.torchMs !== null ? [f2(x.torchMs), f1(gflops(x.flops, x.torchMs)), `${f2(x.torchMs / x.bestMs)}x`] : ['-', '-', '-']) : [])]);
    lines.push(table(header, rows), '');
  }

  const tg = targets(r);
  lines.push('## Issue 10 targets (WASM, 2 threads)', '');
  lines.push(table(['measure', 'target', 'measured', 'met'], tg.map((t) => [t.measure, t.target, t.measured, t.met === null ? '-' : t.met ? 'yes' : 'no'])), '');
  return lines.join('\n');
}
