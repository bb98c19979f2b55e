// Runs bench/torch_bench.py (PyTorch on the CPU) with a JSON request on stdin, or says why it
// cannot: no python3, or no torch in it. The harness then prints that one line and goes on.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const SCRIPT = new URL('../torch_bench.py', import.meta.url).pathname;

/** The python that has torch ($VACCINE_BENCH_PYTHON, else /usr/bin/python3, else python3 on PATH). */
function python(): string {
  if (process.env.VACCINE_BENCH_PYTHON) return process.env.VACCINE_BENCH_PYTHON;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** null when torch is usable, else the reason. */
export function torchUnavailable(): string | null {
  const py = python();
  const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return `${py} not found (${(r.error as Error).message})`;
  if (r.status !== 0) return `${py} has no usable torch (${(r.stderr || '').trim().split('\n').pop()})`;
  return null;
}

/**
 * OpenMP's wait policy for PyTorch's threads. 'passive': idle threads sleep (futex), as the WASM
 * pool's workers do (Atomics.wait); on a machine busier than its cores, OpenMP's default of
 * spinning makes every parallel region wait for a descheduled spinner (on the loaded 2-core
 * development machine, load average 10-12, a stories260K forward + backward took 5-7 s at 2
 * threads with OpenMP's default and 0.5-2 s with PASSIVE). 'default':
 * the environment's OMP_WAIT_POLICY, else OpenMP's own.
 */
export type OmpWait = 'passive' | 'active' | 'default';

/** Runs one request ('kernels' or 'steps') and returns the script's JSON answer. */
export function runTorch<T>(what: 'kernels' | 'steps', request: unknown, ompWait: OmpWait, timeoutMs = 3_600_000): T {
  const env = { ...process.env };
  if (ompWait !== 'default') env.OMP_WAIT_POLICY = ompWait.toUpperCase();
  const out = execFileSync(python(), [SCRIPT, what], {
    input: JSON.stringify(request), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs, maxBuffer: 1 << 26, env,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

export interface TorchSteps {
  torch: string; threads: number;
  sft: { ms: number[] }; vaccine: { ms: number[] };
  losses: { sft?: [number, number | null]; vaccine?: [number, number | null] };
  max_rss_bytes: number;
}

export interface TorchKernels { torch: string; threads: number; results: { id: string; best_ms: number; reps: number }[] }
