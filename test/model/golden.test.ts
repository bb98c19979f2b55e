// Whole-model check against PyTorch: test/reference/golden.py builds small random models (Llama
// with GQA, a Qwen2-style Llama, an OPT with project_in/out; right padding, LoRA on every projection
// of the family with non-zero B) and stores logits, loss, the attention-block outputs, their
// gradients and every LoRA gradient. The engine must match each tensor with relative error <= 1e-4
// (max |diff| / max |reference|), on every backend here.
// GOLDEN_REPORT=1 prints the worst error per kind of tensor.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend } from '../../engine/backend.ts';
import { loraTargetNames } from '../../engine/lora.ts';
import { bytesHeld, relErr, wasmBackend, webgpuProviders } from '../helpers.ts';
import { FIXTURES, loadGolden } from './golden_fixture.ts';

const TOL = 1e-4;

const worst = new Map<string, number>();

function check(name: string, got: ArrayLike<number>, want: ArrayLike<number> | undefined) {
  assert.ok(want, `fixture has ${name}`);
  const e = relErr(got, want!);
  const kind = name.startsWith('grad ') ? 'LoRA grads' : name.replace(/\.\d+$/, '');
  worst.set(kind, Math.max(worst.get(kind) ?? 0, e));
  assert.ok(e <= TOL, `${name}: relative error ${e.toExponential(2)} > ${TOL}`);
}

// Without an adapter (outside CI) the WebGPU suites are not registered; under CI webgpuProviders() throws.
const backends: [string, Backend | null][] = [['wasm', await wasmBackend()], ...(await webgpuProviders()).map(({ provider, backend }) => [provider, backend] as [string, Backend])];
for (const [label, be] of backends) {
  if (!be) { console.warn(`golden (${label}): no adapter, not run`); continue; }
  const t = suite(`golden (${label})`);
  for (const fixture of FIXTURES) t(`${fixture}: logits, loss, attention outputs and all LoRA gradients match PyTorch`, async () => {
    const before = bytesHeld(be);
    const { model, batch, expected, config } = loadGolden(be, fixture);
    const tape = model.forward(batch, { training: false });
    check('logits', await model.logits(tape).read(), expected.get('logits')?.data);
    const loss = await model.loss(tape);
    const wantLoss = expected.get('loss')!.data[0];
    assert.ok(Math.abs(loss - wantLoss) / Math.abs(wantLoss) <= TOL, `loss ${loss} vs ${wantLoss}`);
    const outs = model.attnOutputs(tape);
    for (let l = 0; l < config.nLayers; l++) check(`attn_out.${l}`, await outs[l].read(), expected.get(`attn_out.${l}`)?.data);
    const { attnOutGrads } = model.backward(tape, { attnOutGrads: true });
    for (let l = 0; l < config.nLayers; l++) check(`grad_attn_out.${l}`, await attnOutGrads![l].read(), expected.get(`grad_attn_out.${l}`)?.data);
    let n = 0;
    for (const m of model.lora!.modules) {
      check(`grad ${m.peftName}.lora_A`, await m.dA.read(), expected.get(`grad.${m.peftName}.lora_A.weight`)?.data);
      check(`grad ${m.peftName}.lora_B`, await m.dB.read(), expected.get(`grad.${m.peftName}.lora_B.weight`)?.data);
      n++;
    }
    assert.is(n, loraTargetNames(config).length * config.nLayers, 'a module per target of the family in every layer');
    attnOutGrads!.forEach((g) => g.dispose());
    model.disposeTape(tape);
    model.lora!.dispose();
    model.dispose();
    assert.is(bytesHeld(be), before, 'every buffer is returned');
    if (process.env.GOLDEN_REPORT) console.log(`${label} ${fixture}: ${[...worst].map(([k, e]) => `${k} ${e.toExponential(1)}`).join(', ')}`);
    worst.clear();
  });

  t('a training step leaves no buffer behind', async () => {
    const { model, batch } = loadGolden(be);
    const run = async () => {
      const tape = model.forward(batch, { training: true, dropoutSeed: 7 });
      await model.loss(tape);
      const r = model.backward(tape, { attnOutGrads: true });
      r.attnOutGrads!.forEach((g) => g.dispose());
      model.disposeTape(tape);
      await be.sync();
    };
    await run();
    const after1 = be.bytesInUse();
    await run(); await run();
    assert.is(be.bytesInUse(), after1);
    model.lora!.dispose();
    model.dispose();
  });
  t.run();
}
