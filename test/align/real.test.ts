// Real data: stories260K aligned with safety_refusals.jsonl on WASM. Short SFT and Vaccine runs must
// lower the loss on fixed examples (no dropout at evaluation). The 200-step runs and the step-time
// ratio are in bench/align_real.ts. Skipped, with a note, when the shared data is absent.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadAdapter } from '../../engine/adapter.ts';
import { align, prepareData } from '../../engine/jobs/align.ts';
import { evaluateLoss } from '../../engine/jobs/evaluate.ts';
import { LlamaModel } from '../../engine/model/llama.ts';
import { loadModel } from '../../engine/model/load.ts';
import { loadTokenizer } from '../../engine/tokenizer/load.ts';
import { DATA_DIR, wasmBackend } from '../helpers.ts';

const modelPath = join(DATA_DIR, 'models/stories260K/stories260K.bin');
const dataPath = join(DATA_DIR, 'alignment/safety_refusals.jsonl');

if (!existsSync(modelPath) || !existsSync(dataPath)) {
  console.log(`(align/real: ${DATA_DIR} has no stories260K or safety_refusals.jsonl: real-data alignment tests not run)`);
} else {
  test('stories260K + safety_refusals: 40-step SFT and Vaccine runs lower the loss on fixed examples', async () => {
    const be = await wasmBackend();
    const { config, weights } = loadModel(modelPath);
    const tokenizer = loadTokenizer(modelPath);
    const evalSet = prepareData(dataPath, tokenizer, config, { maxLength: 200, batchSize: 5, seed: 43, shuffle: false });
    const evalExamples = evalSet.examples.slice(0, 10);
    const base = LlamaModel.fromHost(be, config, weights);
    const before = await evaluateLoss(base, evalExamples, 5, evalSet.padId);
    base.dispose();
    const memBefore = be.bytesInUse();
    for (const method of ['sft', 'vaccine'] as const) {
      const out = mkdtempSync(join(tmpdir(), `align-real-${method}-`));
      const res = await align({ model: { config, weights }, tokenizer, data: dataPath, out, method, maxSteps: 40, backend: be });
      assert.is(res.metrics.length, 40);
      const m = LlamaModel.fromHost(be, config, weights);
      m.lora = loadAdapter(be, config, out, { dropout: 0 });
      const after = await evaluateLoss(m, evalExamples, 5, evalSet.padId);
      m.lora.dispose(); m.dispose();
      rmSync(out, { recursive: true, force: true });
      // 40 steps at lr 1e-3 take the loss from ~3.4 to ~2.5; demand at least a 15% drop
      assert.ok(after < 0.85 * before, `${method}: eval loss ${before} -> ${after} (want < 0.85x)`);
      if (method === 'vaccine') assert.ok(res.metrics.every((x) => x.perturbed_loss! > x.loss), 'the perturbation raises the loss at every step');
    }
    assert.is(be.bytesInUse(), memBefore, 'the job frees everything it allocated on a caller-owned backend');
  });
}

test.run();
