// What happens when things go wrong part-way: a pass that throws returns every buffer it took,
// and a backend refuses a thread count it cannot serve (its reductions keep one slot per thread).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createWasmBackend } from '../../bindings/wasm/backend.ts';
import { Tensor } from '../../engine/tensor.ts';
import { loadGolden } from './golden_fixture.ts';
import { wasmBackend, bytesHeld } from '../helpers.ts';

test('a forward that throws part-way (layer 1) leaks no buffer', async () => {
  const be = await wasmBackend();
  const { model, batch, config } = loadGolden(be);
  const N = batch.B * batch.T;
  const perturbations = Array.from({ length: config.nLayers }, () => Tensor.zeros(be, [N, config.dim]));
  perturbations[1].dispose(); // layer 1 will find a disposed tensor, after layer 0 allocated its tape
  const before = bytesHeld(be);
  assert.throws(() => model.forward(batch, { perturbations }), /used after dispose/);
  assert.is(bytesHeld(be), before);
  perturbations[0].dispose();
  model.lora!.dispose();
  model.dispose();
});

test('the WASM backend refuses thread counts outside 1..64', async () => {
  for (const threads of [0, 1.5, 65, 72]) {
    await createWasmBackend({ threads }).then(
      () => assert.unreachable(`threads ${threads} accepted`),
      (e: Error) => assert.match(e.message, /threads must be an integer from 1 to 64/));
  }
});

test.run();
