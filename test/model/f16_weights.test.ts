// f16 storage of the frozen weights (WebGPU with shader-f16): the model with f16-stored weights
// must compute what the f32 model computes on the same weights rounded to f16 (compute is f32 in
// both, so only summation order may differ: relative 1e-5). Backends without f16 storage refuse.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { f16BitsToF32, f32ToF16Bits } from '../../engine/io/dtype.ts';
import { Lora, loraTargetNames } from '../../engine/lora.ts';
import type { Batch, CausalLM } from '../../engine/model/causal_lm.ts';
import type { HostWeights } from '../../engine/model/family.ts';
import { loadHFModel } from '../../engine/model/load_hf.ts';
import { buildModel } from '../../engine/model/registry.ts';
import { relErr, wasmBackend, webgpuProviders } from '../helpers.ts';

const DIR = new URL('../fixtures/golden/', import.meta.url).pathname;
const t = suite('f16 weights');

t('a backend without f16 storage refuses f16 weights clearly', async () => {
  const be = await wasmBackend();
  const { config, weights } = loadHFModel(DIR);
  assert.throws(() => buildModel(be, config, weights, { weightDtype: 'f16' }), /f16 weights need a backend with f16 storage/);
});

const gpus = await webgpuProviders();
if (!gpus.length) console.warn('f16 weights on WebGPU: no adapter, not run');
for (const { provider, backend: gpu } of gpus) {
  if (!gpu.hasF16) console.warn(`f16 weights on WebGPU (${provider}): the adapter lacks shader-f16, not run`);
  // Llama (separate lm_head) and OPT (project_in/out, fc1/fc2)
  if (gpu.hasF16) for (const fixture of ['golden', 'golden_opt']) t(`WebGPU (${provider}), ${fixture}: f16-stored weights equal f32 compute on f16-rounded weights (logits, loss, LoRA grads)`, async () => {
    const be = gpu;
    const { config, weights } = loadHFModel(new URL(`../fixtures/${fixture}/`, import.meta.url).pathname);
    const rounded: HostWeights = new Map();
    for (const [name, w] of weights) {
      // the matrices multiplied by activations: every 2-D weight but the embedding tables
      const isMatrix = w.shape.length === 2 && !name.includes('embed');
      rounded.set(name, isMatrix ? { shape: w.shape, data: Float32Array.from(w.data, (x) => f16BitsToF32(f32ToF16Bits(x))) } : w);
    }
    const batch: Batch = { B: 2, T: 6, ids: Int32Array.from([1, 5, 9, 13, 17, 21, 1, 7, 3, 0, 0, 0]),
      labels: Int32Array.from([-100, -100, 9, 13, 17, 21, -100, 7, 3, -100, -100, -100]), lengths: Int32Array.from([6, 3]) };
    const run = async (model: CausalLM) => {
      model.lora = Lora.create(be, config, { r: 4, alpha: 8, dropout: 0, targets: loraTargetNames(config), seed: 5 });
      // non-zero B so that every LoRA gradient is non-trivial
      for (const m of model.lora.modules) be.fill(m.B.buf, 0.05, m.B.size);
      const tape = model.forward(batch, { training: false });
      const logits = await model.logits(tape).read();
      const loss = await model.loss(tape);
      model.backward(tape);
      const grads = [];
      for (const m of model.lora.modules) grads.push(await m.dA.read(), await m.dB.read());
      model.disposeTape(tape);
      model.lora.dispose();
      model.dispose();
      return { logits, loss, grads };
    };
    const half = await run(buildModel(be, config, weights, { weightDtype: 'f16' }));
    const ref = await run(buildModel(be, config, rounded));
    assert.ok(relErr(half.logits, ref.logits) <= 1e-5, `logits ${relErr(half.logits, ref.logits)}`);
    assert.ok(Math.abs(half.loss - ref.loss) <= 1e-5 * Math.abs(ref.loss), `loss ${half.loss} vs ${ref.loss}`);
    half.grads.forEach((g, i) => assert.ok(relErr(g, ref.grads[i]) <= 1e-5, `grad ${i}: ${relErr(g, ref.grads[i])}`));
  });
}

t.run();
