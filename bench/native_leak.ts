// Leak check of the native provider over a long run: --steps Vaccine training steps of the
// demo model (engine/demo.ts: the job's own loop with data, step, clipping, AdamW) on
// --backend (default webgpu-native), printing the live webgpu.h handles by kind, bytesInUse and
// the process's resident memory every --every steps. Flat handle counts and flat RSS after the
// first steps mean nothing leaks per step. Then --dispatches small dispatches (a bind group
// each) with a read every 200, the hot path alone, RSS printed every tenth of them.
//   node --expose-gc --import tsx bench/native_leak.ts [--steps 1000] [--every 100] [--dispatches 200000] [--backend webgpu-native]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { selectBackend, type BackendKind } from '../bindings/select.ts';
import type { WebGPUBackend } from '../bindings/webgpu/backend.ts';
import { demoAlignmentRows, randomLlamaWeights, tinyLlamaConfig } from '../engine/demo.ts';
import { align } from '../engine/jobs/align.ts';
import { ByteTokenizer } from '../engine/tokenizer/bytes.ts';

const { values } = parseArgs({ options: {
  steps: { type: 'string', default: '1000' },
  every: { type: 'string', default: '100' },
  backend: { type: 'string', default: 'webgpu-native' },
  dispatches: { type: 'string', default: '200000' },
} });
const steps = Number(values.steps), every = Number(values.every);
const be = await selectBackend(values.backend as BackendKind, { quiet: true });
const handles = (): string => {
  const port = (be as WebGPUBackend).port as { liveHandles?: () => Record<string, number> } | undefined;
  return port?.liveHandles ? JSON.stringify(port.liveHandles()) : '(not counted by this backend)';
};
const mib = (x: number) => (x / 2 ** 20).toFixed(1);
console.log(`${values.backend}: ${be.description}`);
console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(`before: rss ${mib(process.memoryUsage().rss)} MiB, handles ${handles()}`);
const out = mkdtempSync(join(tmpdir(), 'native-leak-'));
const config = tinyLlamaConfig();
const t0 = performance.now();
const rss: number[] = [];
await align({
  model: { config, weights: randomLlamaWeights(config, 43) }, tokenizer: new ByteTokenizer(), data: demoAlignmentRows(200, 43),
  out, method: 'vaccine', maxSteps: steps, lr: 1e-2, maxLength: 256, backend: be,
}, {
  onStep: (m) => {
    if (m.step === 1 || m.step % every === 0) {
      global.gc?.();
      const r = process.memoryUsage().rss;
      rss.push(r);
      console.log(`step ${String(m.step).padStart(5)}: loss ${m.loss.toFixed(4)} rss ${mib(r)} MiB, bytesInUse ${be.bytesInUse()}, `
        + `handles ${handles()}, ${((performance.now() - t0) / m.step).toFixed(0)} ms/step`);
    }
  },
});
rmSync(out, { recursive: true, force: true });
console.log(`after the job: rss ${mib(process.memoryUsage().rss)} MiB, bytesInUse ${be.bytesInUse()}, handles ${handles()}`);
if (rss.length > 2) console.log(`rss from the ${every}th step to the last: ${mib(rss[1])} -> ${mib(rss[rss.length - 1])} MiB`);

const dispatches = Number(values.dispatches), n = 256;
const b = be.alloc('f32', n);
be.fill(b, 1, n);
for (let done = 0, tenth = Math.max(1, Math.floor(dispatches / 10)); done < dispatches;) {
  for (let i = 0; i < tenth && done < dispatches; i++, done++) {
    be.scale(b, b, 1, n);
    if (done % 200 === 0) await be.read(b, 'f32', 1);
  }
  await be.sync();
  global.gc?.();
  console.log(`${String(done).padStart(8)} dispatches: rss ${mib(process.memoryUsage().rss)} MiB, handles ${handles()}`);
}
be.free(b);
await be.destroy();
console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
