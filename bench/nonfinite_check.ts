// What the trainer's per-step non-finite check costs beside a training step: after each update it
// sums the squares of every LoRA weight on the device and reads one float back (the loss is read
// anyway, and the gradients' norm is the one clipping computes). stories260K (llama2.c) with a
// LoRA of r 8 on all seven projections, batch 5 x 200 tokens, one Vaccine step vs that check.
//   node --import tsx bench/nonfinite_check.ts [--backends wasm,webgpu] [--reps 20] [--threads N]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { selectBackend, type BackendKind } from '../bindings/select.ts';
import { collate } from '../engine/data.ts';
import { prepareData } from '../engine/jobs/dataset.ts';
import { sumOfSquares } from '../engine/jobs/finite.ts';
import { Lora } from '../engine/lora.ts';
import { buildModel } from '../engine/model/registry.ts';
import { loadModel } from '../engine/model/load.ts';
import { loadTokenizer } from '../engine/tokenizer/load.ts';
import { vaccineStep } from '../engine/vaccine.ts';
import { sharedData } from './lib/shapes.ts';

const { values } = parseArgs({ options: { backends: { type: 'string' }, reps: { type: 'string' }, threads: { type: 'string' } } });
const reps = Number(values.reps ?? 20);
const DATA = sharedData();
const modelPath = join(DATA, 'models/stories260K/stories260K.bin');
const dataPath = join(DATA, 'alignment/safety_refusals.jsonl');
if (!existsSync(modelPath) || !existsSync(dataPath)) {
  console.log(`shared data not found under ${DATA}: nothing to run`);
  process.exit(0);
}
const { config, weights } = loadModel(modelPath);
const data = prepareData(dataPath, loadTokenizer(modelPath), config, { maxLength: 200, batchSize: 5, seed: 1, shuffle: false });
const batch = collate(data.examples.slice(0, 5), data.padId);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const kind of (values.backends ?? 'wasm,webgpu').split(',') as BackendKind[]) {
  let backend;
  try { backend = await selectBackend(kind, { quiet: true, threads: values.threads ? Number(values.threads) : undefined }); } catch (e) {
    console.log(`${kind}: unavailable (${(e as Error).message})`);
    continue;
  }
  const model = buildModel(backend, config, weights);
  const lora = Lora.create(backend, config, { r: 8, alpha: 4, dropout: 0.1, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], seed: 1 });
  model.lora = lora;
  const tensors = lora.modules.flatMap((m) => [m.A, m.B]);
  const step: number[] = [], check: number[] = [];
  for (let i = 0; i < reps + 2; i++) {
    let t = performance.now();
    await vaccineStep(model, batch, { dropoutSeed: i, rho: 2 });
    await backend.sync();
    const s = performance.now() - t;
    t = performance.now();
    const v = await sumOfSquares(backend, tensors);
    const c = performance.now() - t;
    if (!Number.isFinite(v)) throw new Error('non-finite weights');
    if (i >= 2) { step.push(s); check.push(c); }
  }
  const ms = median(step), mc = median(check);
  console.log(`${backend.description}: ${tensors.length} LoRA tensors (${tensors.reduce((a, t) => a + t.size, 0)} values); `
    + `Vaccine step ${ms.toFixed(1)} ms, weights check ${mc.toFixed(3)} ms (${(100 * mc / ms).toFixed(2)}% of a step), medians of ${reps}`);
  model.lora = null;
  lora.dispose();
  model.dispose();
  await backend.destroy();
}
process.exit(0);
