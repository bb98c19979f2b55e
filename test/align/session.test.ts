// One session serves a grid of jobs (engine/jobs/session.ts): jobs run on a session they are
// handed give the same bits as one-shot jobs that upload their own model, including after an
// earlier job merged an adapter into the base weights (the base is restored exactly); the
// session frees what it allocated; an injected backend factory is used and owned.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { saveAdapter } from '../../engine/adapter.ts';
import type { Backend } from '../../engine/backend.ts';
import { BatchOrder, collate, encodeExample, parseRows } from '../../engine/data.ts';
import { demoAlignmentRows, randomLlamaWeights } from '../../engine/demo.ts';
import { writeSafetensors } from '../../engine/io/safetensors.ts';
import { align, alignOn } from '../../engine/jobs/align.ts';
import { InputError } from '../../engine/jobs/errors.ts';
import { Session } from '../../engine/jobs/session.ts';
import { ByteTokenizer } from '../../engine/tokenizer/bytes.ts';
import { wasmBackend, bytesHeld } from '../helpers.ts';
import { randomLora, tinyConfig } from './helpers_align.ts';

const be = await wasmBackend();
const tokenizer = new ByteTokenizer();
const config = tinyConfig({ vocabSize: 258, bosId: 256, eosId: 257, maxSeqLen: 256 });
const weights = randomLlamaWeights(config, 21);
const data = demoAlignmentRows(8, 5);
const work = mkdtempSync(join(tmpdir(), 'align-session-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const common = { data, batchSize: 2, maxSteps: 2, maxLength: 256, seed: 43 };
let n = 0;
const fresh = () => join(work, `out${n++}`);
const adapterBytes = (dir: string) => readFileSync(join(dir, 'adapter_model.safetensors'));

const adapterDir = join(work, 'merge-me');
{
  const x = randomLora(be, config, 4, 8, 0, 3);
  await saveAdapter(adapterDir, x, config);
  x.dispose();
}

/** The loss of the session's model (no adapter attached) on the first micro-batch, read exactly. */
async function baseLoss(s: Session): Promise<number> {
  const ex = parseRows(JSON.stringify(data), '<rows>').map((r) => encodeExample(r, (t) => tokenizer.encode(t, { bos: true }), tokenizer.eosId, 256));
  const order = new BatchOrder(ex.length, 2, 43, true);
  const batch = collate(Array.from(order.microBatch(0).indices, (i) => ex[i]), tokenizer.eosId);
  const tape = s.model.forward(batch, { training: false });
  try { return await s.model.loss(tape); } finally { s.model.disposeTape(tape); }
}

test('a grid on one session (align, align on a merged base, align again) gives the bits of one-shot jobs', async () => {
  const before = bytesHeld(be);
  const session = await Session.open({ model: { config, weights }, tokenizer, backend: be, keepHostWeights: true });
  const loss0 = await baseLoss(session);
  const cells = [
    { method: 'sft' as const },
    { method: 'vaccine' as const, mergeAdapter: adapterDir },
    { method: 'vaccine' as const, mergeAdapter: adapterDir }, // same base: no rebuild
    { method: 'random-vaccine' as const }, // the merge must be undone exactly
  ];
  for (const cell of cells) {
    const onSession = fresh(), oneShot = fresh();
    const r1 = await alignOn(session, { ...common, ...cell, out: onSession });
    const r2 = await align({ ...common, ...cell, model: { config, weights }, tokenizer, backend: be, out: oneShot });
    assert.ok(adapterBytes(onSession).equals(adapterBytes(oneShot)), `${JSON.stringify(cell)}: the adapters differ`);
    assert.equal(r1.metrics.map((m) => m.loss), r2.metrics.map((m) => m.loss));
    assert.equal(session.merged, cell.mergeAdapter ? [cell.mergeAdapter] : []);
    assert.is(session.model.lora, null, 'the job detached its adapter');
  }
  assert.is(await baseLoss(session), loss0, 'the base after the merge was undone is bit for bit the original');
  await session.close();
  assert.is(bytesHeld(be), before, 'the session and its jobs freed everything on a caller-owned backend');
});

test('restoring the base without a host copy reads the model file again; in memory without one it is an error', async () => {
  const dir = join(work, 'hf');
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 258, hidden_size: 16, intermediate_size: 24,
    num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, max_position_embeddings: 256,
    rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 256, eos_token_id: 257,
  }));
  writeSafetensors(join(dir, 'model.safetensors'), weights);
  const s = await Session.open({ model: dir, tokenizer, backend: be });
  assert.not.ok(s.keepsHostWeights);
  assert.is(s.modelPath, dir);
  const loss0 = await baseLoss(s);
  await s.setMerged([adapterDir]);
  assert.not.equal(await baseLoss(s), loss0, 'the merge changes the model');
  await s.setMerged([]);
  assert.is(await baseLoss(s), loss0);
  await s.close();

  const m = await Session.open({ model: { config, weights }, tokenizer, backend: be });
  await m.setMerged([adapterDir]);
  try {
    await m.setMerged([]);
    assert.unreachable('restored without the weights');
  } catch (e) {
    assert.match((e as Error).message, /cannot restore the base weights: the model was given in memory without keepHostWeights/);
  }
  await m.close();
});

test('an adapter that does not fit is an InputError and leaves the original base', async () => {
  const other = tinyConfig({ vocabSize: 258, hiddenDim: 40 });
  const bad = join(work, 'bad-adapter');
  const x = randomLora(be, other);
  await saveAdapter(bad, x, other);
  x.dispose();
  const s = await Session.open({ model: { config, weights }, tokenizer, backend: be, keepHostWeights: true });
  const loss0 = await baseLoss(s);
  await s.setMerged([adapterDir]);
  try {
    await s.setMerged([adapterDir, bad]);
    assert.unreachable('merged an adapter that does not fit');
  } catch (e) {
    assert.instance(e, InputError);
    assert.match((e as Error).message, /does not fit this model/);
  }
  assert.equal(s.merged, []);
  assert.is(await baseLoss(s), loss0);
  // a job on a session does not name the session's parts
  try {
    await alignOn(s, { ...common, out: fresh(), model: { config, weights } });
    assert.unreachable('accepted a model on a session');
  } catch (e) {
    assert.instance(e, InputError);
    assert.match((e as Error).message, /alignOn: model is the session's; do not pass it with a session/);
  }
  await s.close();
});

test('a session opened by kind uses the injected backend factory and destroys what it opened', async () => {
  let asked: string | null = null, destroyed = 0;
  // the shared test backend, with a destroy that only counts (other tests still use it)
  const wrapped = new Proxy(be, {
    get(t, k) {
      if (k === 'destroy') return async () => { destroyed++; };
      const v = Reflect.get(t, k, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  }) as Backend;
  const s = await Session.open({ model: { config, weights }, tokenizer, backend: 'wasm', threads: 1,
    openBackend: async (kind, o) => { asked = `${kind}/${o.threads}`; return wrapped; } });
  assert.is(asked, 'wasm/1');
  await alignOn(s, { ...common, out: fresh(), method: 'sft' });
  await s.close();
  await s.close();
  assert.is(destroyed, 1, 'closed once, the owned backend destroyed once');
});

test.run();
