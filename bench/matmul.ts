// GFLOP/s of the WASM matmul at 1 and 2 threads, for square shapes and a LoRA training shape,
// with B transposed (nn.Linear forward) or not (dX = dY W). When /usr/bin/python3 has torch,
// bench/torch_matmul.py measures the same shapes and a WASM/PyTorch ratio column is printed.
// Usage: npm run bench:matmul   (node --import tsx bench/matmul.ts); npm run bench is the whole harness (bench/run.ts)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createWasmBackend } from '../bindings/wasm/backend.ts';

// [name, M, N, K]: C[M,N] = A[M,K] op(B)
const SHAPES: [string, number, number, number][] = [
  ['256^3', 256, 256, 256],
  ['512^3', 512, 512, 512],
  ['1024^3', 1024, 1024, 1024],
  ['lora T=1000 in=out=2048', 1000, 2048, 2048],
];
const MIN_SECONDS = 0.4;

function randomFill(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.random() - 0.5;
  return x;
}

function torchResults(): Map<string, number> | null {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return null;
  try {
    const out = execFileSync(py, [new URL('./torch_matmul.py', import.meta.url).pathname, JSON.stringify(SHAPES)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    const parsed = JSON.parse(out) as { results: { name: string; threads: number; transB: boolean; gflops: number }[] };
    return new Map(parsed.results.map((r) => [`${r.name}|${r.threads}|${r.transB}`, r.gflops]));
  } catch (e) {
    console.log(`(PyTorch comparison unavailable: ${(e as Error).message.split('\n')[0]})`);
    return null;
  }
}

const rows: { name: string; threads: number; transB: boolean; gflops: number }[] = [];
for (const threads of [1, 2]) {
  const backend = await createWasmBackend({ threads });
  for (const [name, M, N, K] of SHAPES) {
    const a = backend.alloc('f32', M * K), b = backend.alloc('f32', K * N), c = backend.alloc('f32', M * N);
    backend.write(a, randomFill(M * K));
    backend.write(b, randomFill(K * N));
    for (const transB of [true, false]) {
      const p = { M, N, K, transA: false, transB, alpha: 1, beta: 0 };
      backend.matmul(c, a, b, p);
      // The fastest of several repetitions: other processes on the machine only ever slow a run down.
      let reps = 0, best = Infinity;
      const t0 = performance.now();
      while (performance.now() - t0 < MIN_SECONDS * 1000 || reps < 3) {
        const t = performance.now();
        backend.matmul(c, a, b, p);
        best = Math.min(best, performance.now() - t);
        reps++;
      }
      rows.push({ name, threads, transB, gflops: (2 * M * N * K) / (best / 1000) / 1e9 });
    }
    for (const buf of [a, b, c]) backend.free(buf);
  }
  await backend.destroy();
}

const torch = torchResults();
console.log(`matmul GFLOP/s (fastest repetition) on ${cpus()[0].model} (${cpus().length} cores), node ${process.version}, `
  + `load average ${loadavg()[0].toFixed(1)}`);
const header = ['shape (MxNxK)', 'threads', 'B layout', 'WASM', ...(torch ? ['PyTorch', 'WASM/PyTorch'] : [])];
const lines = rows.map((r) => {
  const [, M, N, K] = SHAPES.find((s) => s[0] === r.name)!;
  const t = torch?.get(`${r.name}|${r.threads}|${r.transB}`);
  return [`${r.name} (${M}x${N}x${K})`, String(r.threads), r.transB ? '[N,K] (B^T)' : '[K,N]', r.gflops.toFixed(1),
    ...(torch ? [t ? t.toFixed(1) : '-', t ? (r.gflops / t).toFixed(2) : '-'] : [])];
});
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const fmt = (cols: string[]) => `| ${cols.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(fmt(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const l of lines) console.log(fmt(l));
process.exit(0);
