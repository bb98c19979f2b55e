// Real data: stories260K aligned with safety_refusals.jsonl on WASM. 200-step SFT and Vaccine runs
// with the default hyper-parameters (the setting) must lower the loss on fixed examples (no
// dropout at evaluation). The step-time ratio is in bench/align_real.ts. Not registered, with a
// note, when the shared data is absent.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadAdapter } from '../../engine/adapter.ts';
import { align, prepareData } from '../../engine/jobs/align.ts';
import { evaluateLoss } from '../../engine/jobs/evaluate.ts';
import { buildModel } from '../../engine/model/registry.ts';
import { loadModel } from '../../engine/model/load.ts';
import { loadTokenizer } from '../../engine/tokenizer/load.ts';
import { DATA_DIR, wasmBackend, bytesHeld } from '../helpers.ts';

const modelPath = join(DATA_DIR, 'models/stories260K/stories260K.bin');
const dataPath = join(DATA_DIR, 'alignment/safety_refusals.jsonl');

if (!existsSync(modelPath) || !existsSync(dataPath)) {
  console.log(`(align/real: ${DATA_DIR} has no stories260K or safety_refusals.jsonl: real-data alignment tests not run)`);
} else {
  test('stories260K + safety_refusals: 200-step SFT and Vaccine runs lower the loss on fixed examples', async () => {
    const be = await wasmBackend();
    const { config, weights } = loadModel(modelPath);
    const tokenizer = loadTokenizer(modelPath);
    const evalSet = prepareData(dataPath, tokenizer, config, { maxLength: 200, batchSize: 5, seed: 43, shuffle: false });
    const evalExamples = evalSet.examples.slice(0, 10);
    const base = buildModel(be, config, weights);
    const before = await evaluateLoss(base, evalExamples, 5, evalSet.padId);
    base.dispose();
    const memBefore = bytesHeld(be);
    for (const method of ['sft', 'vaccine'] as const) {
      const out = mkdtempSync(join(tmpdir(), `align-real-${method}-`));
      const res = await align({ model: { config, weights }, tokenizer, data: dataPath, out, method, maxSteps: 200, backend: be });
      assert.is(res.metrics.length, 200);
      const m = buildModel(be, config, weights);
      m.lora = loadAdapter(be, config, out, { dropout: 0 });
      const after = await evaluateLoss(m, evalExamples, 5, evalSet.padId);
      m.lora.dispose(); m.dispose();
      rmSync(out, { recursive: true, force: true });
      console.log(`(align/real: ${method}, 200 steps: eval loss ${before.toFixed(4)} -> ${after.toFixed(4)})`);
      // measured here: 3.362 -> 1.791 (SFT) and -> 1.971 (Vaccine), drops of 47% and 41%; demand at
      // least 25%, i.e. a drop of 0.84 nats: far beyond run-to-run noise, well short of the measured
      assert.ok(after < 0.75 * before, `${method}: eval loss ${before} -> ${after} (want < 0.75x)`);
      // the training loss falls too: mean of the last 20 steps below the mean of the first 20
      const mean = (xs: typeof res.metrics) => xs.reduce((a, x) => a + x.loss, 0) / xs.length;
      assert.ok(mean(res.metrics.slice(-20)) < mean(res.metrics.slice(0, 20)), `${method}: training loss did not fall`);
      if (method === 'vaccine') assert.ok(res.metrics.every((x) => x.perturbed_loss! > x.loss), 'the perturbation raises the loss at every step');
    }
    assert.is(bytesHeld(be), memBefore, 'the job frees everything it allocated on a caller-owned backend');
  });
}

test.run();
