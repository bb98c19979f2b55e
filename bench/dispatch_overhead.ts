// Per-dispatch overhead of each WebGPU provider (dawn.node, and webgpu.h over FFI), in one run:
// a loop of the smallest kernel (scale, in place, one workgroup of 256 elements) so that the time
// is the cost of recording, binding and submitting a dispatch rather than of the kernel. Reports
// - record: host time to enqueue one dispatch (no waiting);
// - dispatch: time per dispatch of a long loop, submission and GPU execution included;
// - round trip: one dispatch then read() of 4 bytes (submit, wait, map), the latency of a sync.
// Best of --reps runs each, the providers taking turns within each rep (so that a busy machine
// slows both alike). On a CPU adapter (lavapipe) the kernel itself runs on the CPU too.
//   node --import tsx bench/dispatch_overhead.ts [--dispatches 4000] [--trips 200] [--reps 3] [--providers webgpu,webgpu-native]
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { Backend } from '../engine/backend.ts';
import { selectBackend, type BackendKind } from '../bindings/select.ts';

const { values } = parseArgs({ options: {
  dispatches: { type: 'string', default: '4000' },
  trips: { type: 'string', default: '200' },
  reps: { type: 'string', default: '3' },
  providers: { type: 'string', default: 'webgpu,webgpu-native' },
} });
const N = Number(values.dispatches), TRIPS = Number(values.trips), REPS = Number(values.reps);
const n = 256;

interface Result { recordUs: number; dispatchUs: number; tripUs: number }

async function measureOnce(be: Backend, b: ReturnType<Backend['alloc']>, best: Result): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) be.scale(b, b, 1, n);
  const t1 = performance.now();
  await be.sync();
  const t2 = performance.now();
  best.recordUs = Math.min(best.recordUs, ((t1 - t0) * 1000) / N);
  best.dispatchUs = Math.min(best.dispatchUs, ((t2 - t0) * 1000) / N);
  const t3 = performance.now();
  for (let i = 0; i < TRIPS; i++) { be.scale(b, b, 1, n); await be.read(b, 'f32', 1); }
  best.tripUs = Math.min(best.tripUs, ((performance.now() - t3) * 1000) / TRIPS);
}

console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(`${N} dispatches of scale (${n} f32, 1 workgroup), ${TRIPS} round trips, best of ${REPS}`);
console.log('provider        | record us/dispatch | dispatch us (submit + GPU) | round trip us (dispatch + read) | adapter');
const runs = [];
for (const kind of values.providers!.split(',')) {
  const be = await selectBackend(kind as BackendKind, { quiet: true });
  const b = be.alloc('f32', n);
  be.fill(b, 1, n);
  be.scale(b, b, 1, n);
  await be.read(b, 'f32', 1); // warm-up: pipelines, staging paths
  runs.push({ kind, be, b, best: { recordUs: Infinity, dispatchUs: Infinity, tripUs: Infinity } });
}
for (let r = 0; r < REPS; r++) for (const run of runs) await measureOnce(run.be, run.b, run.best);
for (const { kind, be, best: r } of runs) {
  console.log(`${kind.padEnd(15)} | ${r.recordUs.toFixed(2).padStart(18)} | ${r.dispatchUs.toFixed(2).padStart(26)} | ${r.tripUs.toFixed(1).padStart(31)} | ${be.description}`);
  await be.destroy();
}
console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
process.exit(0);
