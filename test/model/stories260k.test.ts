// The one real pretrained checkpoint here: llama2.c's stories260K (GQA, interleaved RoPE, tied
// classifier). Its greedy text from BOS is documented in ../shared/data/README.md; the engine must
// reproduce it token for token (the first 40 tokens) on every backend here.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generate, type GenerateOptions } from '../../engine/model/generate.ts';
import type { CausalLM } from '../../engine/model/causal_lm.ts';
import { buildModel } from '../../engine/model/registry.ts';
import { loadModel } from '../../engine/model/load.ts';
import { loadTokenizer } from '../../engine/tokenizer/load.ts';
import type { Backend } from '../../engine/backend.ts';
import { DATA_DIR, wasmBackend, webgpuProviders } from '../helpers.ts';

const MODEL = join(DATA_DIR, 'models', 'stories260K', 'stories260K.bin');
const TOKENIZER = join(DATA_DIR, 'models', 'stories260K', 'tok512.bin');
const DOCUMENTED = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. '
  + 'One day, she saw a big, red ball. She wanted to play with it, but it was too high';

// Needs ../shared/data; the WebGPU suite also needs an adapter (outside CI; under CI its absence throws).
const haveData = existsSync(MODEL) && existsSync(TOKENIZER);
const one = async (model: CausalLM, prompt: number[], o: GenerateOptions) => (await generate(model, [prompt], o))[0];
if (!haveData) console.warn(`stories260K: ${MODEL} not found: not run`);
const backends: [string, Backend | null][] = haveData
  ? [['wasm', await wasmBackend()], ...(await webgpuProviders()).map(({ provider, backend }) => [provider, backend] as [string, Backend])]
  : [];
for (const [label, be] of backends) {
  if (!be) { console.warn(`stories260K (${label}): no adapter, not run`); continue; }
  const t = suite(`stories260K (${label})`);
  t('greedy generation from BOS reproduces the documented text (first 40 tokens)', async () => {
    const { config, weights } = loadModel(MODEL);
    const tok = loadTokenizer(TOKENIZER);
    const model = buildModel(be, config, weights);
    const out = await one(model, [tok.bosId], { maxNewTokens: 40 });
    model.dispose();
    assert.is(out.length, 40);
    // The documented text, tokenized, is the sequence a greedy decoder must emit token for token.
    const want = tok.encode(DOCUMENTED).slice(0, 40);
    const text = tok.decode(out);
    assert.equal(out, want, `generated: ${JSON.stringify(text)}`);
    assert.ok(DOCUMENTED.startsWith(text), `generated text is a prefix of the documented one: ${JSON.stringify(text)}`);
  });
  t('temperature sampling: seeded, reproducible, and differs from greedy', async () => {
    const { config, weights } = loadModel(MODEL);
    const tok = loadTokenizer(TOKENIZER);
    const model = buildModel(be, config, weights);
    const greedy = await one(model, [tok.bosId], { maxNewTokens: 30 });
    const a = await one(model, [tok.bosId], { maxNewTokens: 30, temperature: 1, seed: 11 });
    const b = await one(model, [tok.bosId], { maxNewTokens: 30, temperature: 1, seed: 11 });
    const c = await one(model, [tok.bosId], { maxNewTokens: 30, temperature: 1, seed: 12 });
    // a temperature far below the logit gaps is greedy decoding
    const cold = await one(model, [tok.bosId], { maxNewTokens: 30, temperature: 1e-4, seed: 13 });
    model.dispose();
    assert.equal(a, b, 'same seed, same tokens');
    assert.not.equal(a, c, 'another seed, other tokens');
    assert.not.equal(a, greedy, 'temperature 1 is not greedy');
    assert.equal(cold, greedy);
    assert.ok(a.every((id) => id >= 0 && id < config.vocabSize));
  });
  t.run();
}
