// SFT and Vaccine on real data: stories260K aligned with safety_refusals.jsonl, per backend.
// Prints the loss on 20 fixed examples before and after training, the training loss of the first and
// last 10 steps, and the Vaccine / SFT step-time ratio (median step time, first 2 steps excluded).
//   node --import tsx bench/align_real.ts [--steps 200] [--backends wasm,webgpu] [--threads N]
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { selectBackend, type BackendKind } from '../bindings/select.ts';
import { loadAdapter } from '../engine/adapter.ts';
import { align, prepareData, type AlignMethod } from '../engine/jobs/align.ts';
import { evaluateLoss } from '../engine/jobs/evaluate.ts';
import { buildModel } from '../engine/model/registry.ts';
import { loadModel } from '../engine/model/load.ts';
import { loadTokenizer } from '../engine/tokenizer/load.ts';
import { sharedData } from './lib/shapes.ts';

const { values } = parseArgs({ options: { steps: { type: 'string' }, backends: { type: 'string' }, threads: { type: 'string' } } });
const steps = Number(values.steps ?? 200);
const kinds = (values.backends ?? 'wasm,webgpu').split(',') as BackendKind[];
const DATA = sharedData();
const modelPath = join(DATA, 'models/stories260K/stories260K.bin');
const dataPath = join(DATA, 'alignment/safety_refusals.jsonl');
if (!existsSync(modelPath) || !existsSync(dataPath)) {
  console.log(`shared data not found under ${DATA}: nothing to run`);
  process.exit(0);
}

const { config, weights } = loadModel(modelPath);
const tokenizer = loadTokenizer(modelPath);
const evalSet = prepareData(dataPath, tokenizer, config, { maxLength: 200, batchSize: 5, seed: 43, shuffle: false });
const evalExamples = evalSet.examples.slice(0, 20);
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

for (const kind of kinds) {
  let backend;
  try { backend = await selectBackend(kind, { quiet: true, threads: values.threads ? Number(values.threads) : undefined }); } catch (e) {
    console.log(`${kind}: unavailable (${(e as Error).message})`);
    continue;
  }
  console.log(`\n== ${backend.description}: ${steps} steps, batch 5, max length 200, lr 1e-3 cosine, r 8 ==`);
  const base = buildModel(backend, config, weights);
  const before = await evaluateLoss(base, evalExamples, 5, evalSet.padId);
  base.dispose();
  const stepTime: Partial<Record<AlignMethod, number>> = {};
  for (const method of ['sft', 'vaccine'] as AlignMethod[]) {
    const out = mkdtempSync(join(tmpdir(), `align-real-${method}-`));
    const res = await align({ model: { config, weights }, tokenizer, data: dataPath, out, method, maxSteps: steps, backend });
    const m = buildModel(backend, config, weights);
    m.lora = loadAdapter(backend, config, out, { dropout: 0 });
    const after = await evaluateLoss(m, evalExamples, 5, evalSet.padId);
    m.lora.dispose(); m.dispose();
    rmSync(out, { recursive: true, force: true });
    const losses = res.metrics.map((x) => x.loss);
    const k = Math.min(10, losses.length);
    stepTime[method] = median(res.metrics.slice(2).map((x) => x.step_s));
    console.log(`${method.padEnd(8)} eval loss ${before.toFixed(4)} -> ${after.toFixed(4)}; train loss first ${k} ${mean(losses.slice(0, k)).toFixed(4)}`
      + ` last ${k} ${mean(losses.slice(-k)).toFixed(4)}; median step ${(stepTime[method]! * 1000).toFixed(1)} ms`
      + (method === 'vaccine' ? `; perturbed loss last ${k} ${mean(res.metrics.slice(-k).map((x) => x.perturbed_loss!)).toFixed(4)}` : ''));
  }
  console.log(`Vaccine / SFT step time on ${kind}: ${(stepTime.vaccine! / stepTime.sft!).toFixed(2)}x`);
  await backend.destroy();
}
