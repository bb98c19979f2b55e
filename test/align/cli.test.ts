// The command line, spawned as users run it (`node runtime/align.js` over the dist/ bundle):
// bad input exits 2 with a clear message and writes nothing; --init-adapter with --max-steps 0
// writes the same adapter back; metrics.jsonl and --json lines; --resume reproduces an
// uninterrupted run exactly and refuses a checkpoint from other settings or data; --backend auto
// says why it chose WASM; an OPT directory trains unchanged.
import { spawnSync, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { saveAdapter } from '../../engine/adapter.ts';
import { randomLlamaWeights, randomWeights } from '../../engine/demo.ts';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../../engine/io/safetensors.ts';
import { configFromHF } from '../../engine/model/registry.ts';
import { lrLambda, warmupSteps } from '../../engine/optim.ts';
import { isSoftwareRenderer } from '../../bindings/select.ts';
import { wasmBackend } from '../helpers.ts';
import { randomLora, tinyConfig } from './helpers_align.ts';
import { buildOnce } from '../cli/helpers.ts';

const root = new URL('../../', import.meta.url).pathname;
buildOnce();

const work = mkdtempSync(join(tmpdir(), 'align-cli-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// A tiny HF model directory with the hand-built 24-token tokenizer beside it.
const config = tinyConfig({ vocabSize: 32, maxSeqLen: 256, namePath: join(work, 'model') });
const modelDir = join(work, 'model');
mkdirSync(modelDir);
writeFileSync(join(modelDir, 'config.json'), JSON.stringify({
  architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 32, hidden_size: 16, intermediate_size: 24,
  num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, max_position_embeddings: 256,
  rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
}));
writeSafetensors(join(modelDir, 'model.safetensors'), randomLlamaWeights(config, 3));
copyFileSync(new URL('../fixtures/hf-tiny-tokenizer/tokenizer.json', import.meta.url).pathname, join(modelDir, 'tokenizer.json'));

const rows = Array.from({ length: 6 }, (_, i) => ({ instruction: `Steal car ${i}?`, input: i % 2 ? 'now' : '', output: 'No. I will not help.' }));
const dataPath = join(work, 'data.jsonl');
writeFileSync(dataPath, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');

const FAST = ['--backend', 'wasm', '--threads', '1', '--batch-size', '2', '--max-length', '160'];

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'runtime/align.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
let outN = 0;
const freshOut = () => join(work, `out${outN++}`);

test('bad input: exit 2, a clear message, and nothing written to --out', async () => {
  const be = await wasmBackend();
  const write = (name: string, text: string) => { const p = join(work, name); writeFileSync(p, text); return p; };
  const missing = write('missing.jsonl', '{"instruction":"a","output":"b"}\n{"instruction":"c"}\n');
  const empty = write('empty.jsonl', '');
  // an adapter for a model with a different MLP width
  const otherCfg = tinyConfig({ vocabSize: 32, hiddenDim: 40 });
  const badAdapter = join(work, 'bad-adapter');
  const lora = randomLora(be, otherCfg);
  await saveAdapter(badAdapter, lora, otherCfg);
  lora.dispose();
  const cases: [string, string[], RegExp][] = [
    ['row with a missing field', ['--data', missing], /missing\.jsonl:2.*missing field "output"/],
    ['empty data file', ['--data', empty], /empty\.jsonl: the data file is empty/],
    ['unknown target module', ['--data', dataPath, '--lora-targets', 'q_proj,foo_proj'], /unknown LoRA target module 'foo_proj'/],
    ['rho < 0', ['--data', dataPath, '--rho', '-1'], /--rho must be a number in \[0, 1000\], got -1/],
    ['batch larger than the data', ['--data', dataPath, '--batch-size', '7'], /batch size 7 is larger than the data \(6 rows\)/],
    ['init adapter that does not fit', ['--data', dataPath, '--init-adapter', badAdapter], /gate_proj\.lora_B\.weight has shape \[40, 4\] but this model needs \[24, 4\]/],
    ['merge adapter that does not fit', ['--data', dataPath, '--merge-adapter', badAdapter], /does not fit this model|needs \[24, 4\]/],
    ['unknown option', ['--data', dataPath, '--learning-rate', '1'], /^align: unknown option '--learning-rate' \(see --help\)\n$/],
    ['not a number', ['--data', dataPath, '--lr', 'fast'], /--lr must be a number, got 'fast'/],
    ['zero threads', ['--data', dataPath, '--threads', '0'], /--threads must be an integer in 1\.\.64, got 0/],
    ['fractional threads', ['--data', dataPath, '--threads', '1.5'], /--threads must be an integer in 1\.\.64, got 1\.5/],
    ['too many threads', ['--data', dataPath, '--threads', '65'], /--threads must be an integer in 1\.\.64, got 65/],
    ['negative max grad norm', ['--data', dataPath, '--max-grad-norm=-1'], /--max-grad-norm must be a number >= 0/],
    ['model without data', [], /--data is missing/],
  ];
  for (const [what, args, re] of cases) {
    const out = freshOut();
    const r = run(['--model', modelDir, '--out', out, '--max-steps', '2', ...FAST, ...args]);
    assert.is(r.code, 2, `${what}: exit code (stderr: ${r.stderr})`);
    assert.match(r.stderr, re, what);
    assert.not.ok(existsSync(out), `${what}: --out was created`);
  }
  // an existing --out is left exactly as it was
  const out = freshOut();
  mkdirSync(out);
  writeFileSync(join(out, 'keep.txt'), 'x');
  const r = run(['--model', modelDir, '--data', missing, '--out', out, ...FAST]);
  assert.is(r.code, 2);
  assert.equal(readdirSync(out), ['keep.txt']);
});

test('--init-adapter with --max-steps 0 writes back the same adapter (byte-identical tensors)', async () => {
  const be = await wasmBackend();
  const src = join(work, 'init-adapter');
  const lora = randomLora(be, config, 4, 8, 0.1, 99);
  await saveAdapter(src, lora, config);
  lora.dispose();
  const out = freshOut();
  const r = run(['--model', modelDir, '--data', dataPath, '--out', out, '--init-adapter', src, '--max-steps', '0', ...FAST]);
  assert.is(r.code, 0, r.stderr);
  const a = readSafetensors(join(src, 'adapter_model.safetensors')).tensors;
  const b = readSafetensors(join(out, 'adapter_model.safetensors')).tensors;
  assert.equal([...b.keys()].sort(), [...a.keys()].sort());
  for (const [name, t] of a) {
    const u = b.get(name)!;
    assert.equal(u.shape, t.shape);
    assert.ok(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name);
  }
  assert.is(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), '');
});

test('metrics.jsonl: one line per optimizer step with the documented fields; --json prints events', () => {
  const out = freshOut();
  const r = run(['--model', modelDir, '--data', dataPath, '--out', out, '--max-steps', '4', '--grad-accum', '2', '--json', ...FAST]);
  assert.is(r.code, 0, r.stderr);
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.is(lines.length, 4);
  const w = warmupSteps(0.1, 4);
  lines.forEach((m, k) => {
    for (const key of ['step', 'epoch', 'lr', 'loss', 'perturbed_loss', 'grad_norm', 'lora_grad_norm', 'tokens_per_s', 'elapsed_s']) assert.ok(key in m, key);
    assert.ok(m.lora_grad_norm > 0, 'lora_grad_norm');
    assert.is(m.step, k + 1);
    assert.ok(Math.abs(m.lr - 1e-3 * lrLambda('cosine', k, w, 4)) <= 1e-18);
    assert.ok(Number.isFinite(m.loss) && m.loss > 0 && Number.isFinite(m.perturbed_loss) && m.grad_norm > 0);
  });
  // 6 rows, batch 2, accum 2: an epoch is 3 micro-batches, so step 2 ends at epoch 4/3
  assert.ok(Math.abs(lines[1].epoch - 4 / 3) < 1e-6);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.is(events.filter((e) => e.event !== 'log')[0].event, 'start');
  assert.is(events.filter((e) => e.event === 'step').length, 4);
  assert.is(events.at(-1).event, 'done');
  // SFT has no perturbed loss
  const out2 = freshOut();
  assert.is(run(['--model', modelDir, '--data', dataPath, '--out', out2, '--max-steps', '1', '--method', 'sft', '--quiet', ...FAST]).code, 0);
  const sft = JSON.parse(readFileSync(join(out2, 'metrics.jsonl'), 'utf8'));
  assert.is(sft.perturbed_loss, null);
  assert.is(sft.grad_norm, null);
});

test('--resume from a checkpoint reaches the same adapter as an uninterrupted run (bit for bit)', () => {
  for (const extra of [['--optimizer', 'sgd', '--lora-dropout', '0', '--lr', '0.5'], ['--optimizer', 'adamw', '--lora-dropout', '0.1']]) {
    const args = ['--model', modelDir, '--data', dataPath, '--max-steps', '6', '--save-every', '3', '--quiet', ...FAST, ...extra];
    const full = freshOut(), resumed = freshOut();
    assert.is(run([...args, '--out', full]).code, 0);
    // the interrupted run: what a kill right after checkpoint-3 leaves behind
    assert.is(run([...args, '--out', resumed]).code, 0);
    assert.ok(existsSync(join(resumed, 'checkpoint-3', 'trainer_state.json')));
    const header = readSafetensorsHeader(join(resumed, 'checkpoint-3', 'adapter_model.safetensors'));
    assert.ok(header.entries.length === 28);
    for (const f of ['adapter_model.safetensors', 'adapter_config.json']) rmSync(join(resumed, f));
    const lines = readFileSync(join(resumed, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean);
    writeFileSync(join(resumed, 'metrics.jsonl'), lines.slice(0, 4).join('\n') + '\n'); // a step past the checkpoint
    const r = run([...args, '--out', resumed, '--resume']);
    assert.is(r.code, 0, r.stderr);
    const a = readFileSync(join(full, 'adapter_model.safetensors')), b = readFileSync(join(resumed, 'adapter_model.safetensors'));
    assert.ok(a.equals(b), `resumed adapter differs (${extra.join(' ')})`);
    const ma = readFileSync(join(full, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const mb = readFileSync(join(resumed, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.is(mb.length, 6);
    assert.equal(mb.map((m) => [m.step, m.loss, m.lr]), ma.map((m) => [m.step, m.loss, m.lr]));
  }
  // a checkpoint written with other settings is refused
  const out = freshOut();
  const base = ['--model', modelDir, '--data', dataPath, '--max-steps', '4', '--save-every', '2', '--quiet', ...FAST];
  assert.is(run([...base, '--out', out]).code, 0);
  const r = run([...base, '--out', out, '--resume', '--lr', '0.01']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--resume: .*checkpoint-2 was written with different settings \(lr: 0\.001 vs 0\.01\)/);
  // other data with the same number of rows, and another clipping norm, are refused too
  const other = join(work, 'other-data.jsonl');
  writeFileSync(other, rows.map((x) => JSON.stringify({ ...x, output: 'Sure, here is how.' })).join('\n') + '\n');
  const r2 = run([...base.map((a) => a === dataPath ? other : a), '--out', out, '--resume']);
  assert.is(r2.code, 2, r2.stderr);
  assert.match(r2.stderr, /--resume: .*checkpoint-2 was written with different settings \(data_sha256: "[0-9a-f]{64}" vs "[0-9a-f]{64}"; tokens_sha256: "[0-9a-f]{64}" vs "[0-9a-f]{64}"\)/);
  const r3 = run([...base, '--out', out, '--resume', '--max-grad-norm', '0.5']);
  assert.is(r3.code, 2, r3.stderr);
  assert.match(r3.stderr, /\(max_grad_norm: 1 vs 0\.5\)/);
  // the same settings resume
  assert.is(run([...base, '--out', out, '--resume']).code, 0);
});

test('an OPT Hugging Face directory trains unchanged: the six OPT targets by default, PEFT names, bad configs exit 2', () => {
  // written as transformers saves OPTForCausalLM (model.decoder.*), with project_in/out
  const optDir = join(work, 'opt');
  mkdirSync(optDir);
  const optJson = {
    architectures: ['OPTForCausalLM'], model_type: 'opt', vocab_size: 32, hidden_size: 16, word_embed_proj_dim: 12, ffn_dim: 24,
    num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 256, do_layer_norm_before: true, activation_function: 'relu',
    dropout: 0.1, attention_dropout: 0, tie_word_embeddings: true, pad_token_id: 1, bos_token_id: 2, eos_token_id: 2,
  };
  writeFileSync(join(optDir, 'config.json'), JSON.stringify(optJson));
  const optConfig = configFromHF(optJson, optDir);
  writeSafetensors(join(optDir, 'model.safetensors'), randomWeights(optConfig, 5));
  copyFileSync(new URL('../fixtures/hf-tiny-tokenizer/tokenizer.json', import.meta.url).pathname, join(optDir, 'tokenizer.json'));
  const out = freshOut();
  const r = run(['--model', optDir, '--data', dataPath, '--out', out, '--max-steps', '2', '--quiet', ...FAST]);
  assert.is(r.code, 0, r.stderr);
  const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
  assert.equal(cfg.target_modules, ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'fc1', 'fc2']);
  const names = [...readSafetensors(join(out, 'adapter_model.safetensors')).tensors.keys()];
  assert.is(names.length, 2 * 6 * 2);
  assert.ok(names.includes('base_model.model.model.decoder.layers.1.self_attn.out_proj.lora_A.weight'), names.join(' '));
  assert.ok(names.includes('base_model.model.model.decoder.layers.0.fc2.lora_B.weight'));
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.is(metrics.length, 2);
  assert.ok(metrics.every((m) => Number.isFinite(m.loss) && m.perturbed_loss > m.loss - 1e-3 && m.grad_norm > 0), JSON.stringify(metrics));
  // a Llama module name on OPT, and a config the engine cannot run: one line, exit 2, nothing written
  const bad = join(work, 'opt-post-ln');
  mkdirSync(bad);
  writeFileSync(join(bad, 'config.json'), JSON.stringify({ ...optJson, do_layer_norm_before: false }));
  copyFileSync(join(optDir, 'model.safetensors'), join(bad, 'model.safetensors'));
  copyFileSync(join(optDir, 'tokenizer.json'), join(bad, 'tokenizer.json'));
  for (const [args, re] of [
    [['--model', optDir, '--lora-targets', 'q_proj,o_proj'], /unknown LoRA target module 'o_proj' for opt models \(known: q_proj, k_proj, v_proj, out_proj, fc1, fc2\)/],
    [['--model', bad], /config\.json: "do_layer_norm_before": false \(post-LayerNorm blocks, as in OPT-350m\) is not supported/],
  ] as [string[], RegExp][]) {
    const o = freshOut();
    const e = run([...args, '--data', dataPath, '--out', o, '--max-steps', '1', ...FAST]);
    assert.is(e.code, 2, e.stderr);
    assert.match(e.stderr, re);
    assert.is(e.stderr.trim().split('\n').length, 1, `one line: ${e.stderr}`);
    assert.not.ok(existsSync(o), '--out was created');
  }
});

test('--help documents --max-grad-norm with its default (HF Trainer\'s 1.0) and constant without warmup', () => {
  const r = run(['--help']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /--max-grad-norm X\s+clip .*\n.*\(default 1: HF Trainer's default/);
  assert.match(r.stdout, /constant as HF's get_constant_schedule:\s+fixed lr, no warmup/);
});

test('--backend auto: when it falls back to WASM, the output says why', async () => {
  // what this machine offers, found independently of the job
  let expected: RegExp;
  let hardware = false;
  try {
    const { createWebGPUBackend } = await import('../../bindings/webgpu/backend.ts');
    const gpu = await createWebGPUBackend({ quiet: true });
    hardware = !isSoftwareRenderer(gpu.description);
    const esc = gpu.description.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expected = hardware ? new RegExp(esc)
      : new RegExp(`backend: auto chose WASM \\(the WebGPU adapter is a CPU software renderer: ${esc}`);
    await gpu.destroy();
  } catch {
    expected = /backend: auto chose WASM \(no WebGPU adapter/;
  }
  const out = freshOut();
  const r = run(['--model', modelDir, '--data', dataPath, '--out', out, '--max-steps', '1', ...FAST, '--backend', 'auto']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, expected);
  if (hardware) assert.not.match(r.stdout, /chose WASM/);
  // --quiet prints nothing at all
  const q = run(['--model', modelDir, '--data', dataPath, '--out', freshOut(), '--max-steps', '1', ...FAST, '--backend', 'auto', '--quiet']);
  assert.is(q.code, 0, q.stderr);
  assert.is(q.stdout, '');
});

test('the package entry (dist/index.mjs) exports align(), which runs with progress callbacks', async () => {
  const pkg = await import(join(root, 'dist/index.mjs'));
  const out = freshOut();
  const steps: number[] = [];
  const res = await pkg.align({ model: modelDir, data: dataPath, out, maxSteps: 2, backend: 'wasm', threads: 1, batchSize: 2, maxLength: 160 },
    { onStep: (m: { step: number }) => steps.push(m.step) });
  assert.equal(steps, [1, 2]);
  assert.is(res.metrics.length, 2);
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')) && existsSync(join(out, 'adapter_config.json')));
});

test.run();
