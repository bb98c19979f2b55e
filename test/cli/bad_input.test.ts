// The bad-input corpus: every case runs `node runtime/align.js` as a user would, on tiny fixtures
// made here (a random 2-layer model of a few KB, six data rows), and must end with exit code 2,
// exactly one line on stderr that says what is wrong (the case's pattern), no stack trace, and
// --out exactly as it was (absent, or the same bytes: hashed before and after). The cases run in
// parallel batches; the table of results is printed.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readSafetensors, writeSafetensors } from '../../engine/io/safetensors.ts';
import { Rng } from '../../engine/random.ts';
import { buildOnce, dirHash, FAST, inBatches, runAlign, TINY_HF_CONFIG, writeRows, writeTinyModel, type CliResult } from './helpers.ts';

buildOnce();
const work = mkdtempSync(join(tmpdir(), 'align-bad-input-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const at = (...p: string[]) => join(work, ...p);
const MODEL = at('model');
writeTinyModel(MODEL);
const DATA = writeRows(at('data.jsonl'));

// ---- fixtures ----------------------------------------------------------------------------------
const file = (name: string, content: string | Uint8Array) => { const p = at(name); writeFileSync(p, content); return p; };
const garbage = (n: number, seed: number) => { const r = new Rng(seed); return Uint8Array.from({ length: n }, () => Math.floor(r.next() * 256)); };

/** A copy of the model directory with `change` applied to it. */
function modelVariant(name: string, change: (dir: string) => void): string {
  const dir = at(name);
  cpSync(MODEL, dir, { recursive: true });
  change(dir);
  return dir;
}
const withConfig = (name: string, edit: (c: Record<string, unknown>) => void) => modelVariant(name, (d) => {
  const c: Record<string, unknown> = { ...TINY_HF_CONFIG };
  edit(c);
  writeFileSync(join(d, 'config.json'), JSON.stringify(c));
});
/** model.safetensors as raw bytes: u64 header length (or `len`), the header JSON, the data bytes. */
function rawSafetensors(dir: string, header: unknown, data: Uint8Array, len?: bigint): void {
  const json = Buffer.from(JSON.stringify(header));
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(len ?? BigInt(json.length));
  writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([n, json, data]));
}
/** The model's real safetensors header (name -> entry) and data section. */
function realSafetensors(): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; data: Buffer } {
  const b = readFileSync(join(MODEL, 'model.safetensors'));
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.subarray(8, 8 + n).toString()), data: b.subarray(8 + n) };
}
const withHeader = (name: string, edit: (h: ReturnType<typeof realSafetensors>['header']) => void) => modelVariant(name, (d) => {
  const { header, data } = realSafetensors();
  edit(header);
  rawSafetensors(d, header, data);
});
const withWeights = (name: string, edit: (w: ReturnType<typeof readSafetensors>['tensors']) => void) => modelVariant(name, (d) => {
  const w = readSafetensors(join(MODEL, 'model.safetensors')).tensors;
  edit(w);
  writeSafetensors(join(d, 'model.safetensors'), w);
});

/** A PEFT adapter directory for a model of `dim` inputs to q_proj (ours has 16). */
function adapter(name: string, o: { dim?: number; config?: Record<string, unknown>; weights?: 'corrupt' | 'missing' } = {}): string {
  const dir = at(name);
  mkdirSync(dir);
  const dim = o.dim ?? 16, r = 4;
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(o.config ?? { r, lora_alpha: 8, target_modules: ['q_proj'], peft_type: 'LORA' }));
  if (o.weights === 'missing') return dir;
  if (o.weights === 'corrupt') { writeFileSync(join(dir, 'adapter_model.safetensors'), garbage(100, 5)); return dir; }
  const t = new Map<string, { shape: number[]; data: Float32Array }>();
  for (let l = 0; l < 2; l++) {
    const p = `base_model.model.model.layers.${l}.self_attn.q_proj`;
    t.set(`${p}.lora_A.weight`, { shape: [r, dim], data: new Float32Array(r * dim) });
    t.set(`${p}.lora_B.weight`, { shape: [16, r], data: new Float32Array(16 * r) });
  }
  writeSafetensors(join(dir, 'adapter_model.safetensors'), t);
  return dir;
}

/** A llama2.c tokenizer file: max_token_length, then (score, length, bytes) per piece. */
function llama2cTokenizer(pieces: string[], maxLen = 8): Buffer {
  const parts = [Buffer.from(Int32Array.of(maxLen).buffer)];
  for (const p of pieces) {
    const b = Buffer.from(p);
    const h = Buffer.alloc(8);
    h.writeFloatLE(0, 0);
    h.writeInt32LE(b.length, 4);
    parts.push(h, b);
  }
  return Buffer.concat(parts);
}
/** A llama2.c checkpoint header (7 int32) followed by `floats` zero floats. */
const llama2cModel = (name: string, header: number[], floats: number) =>
  file(name, Buffer.concat([Buffer.from(Int32Array.from(header).buffer), Buffer.alloc(4 * floats)]));

const rows = (...r: unknown[]) => r.map((x) => JSON.stringify(x)).join('\n') + '\n';
const ROW = { instruction: 'Steal a car?', output: 'No.' };

// ---- the cases -----------------------------------------------------------------------------------
interface Case {
  name: string;
  /** the arguments besides --out; default model and data are added unless `bare` */
  args: string[];
  bare?: boolean;
  expect: RegExp;
  /** what --out is before the run: absent (default), a file, a directory holding a run */
  out?: 'absent' | 'file' | 'run' | 'in-file';
}

const runDir = at('finished-run');
mkdirSync(runDir);
for (const n of ['adapter_model.safetensors', 'adapter_config.json', 'metrics.jsonl']) writeFileSync(join(runDir, n), 'x');
const tokDir = at('empty-tok-dir');
mkdirSync(tokDir);
symlinkSync(MODEL, at('model-link'));

const d = (name: string, text: string | Uint8Array) => ['--data', file(name, text)];
const m = (dir: string) => ['--model', dir];

const CASES: Case[] = [
  // data: malformed JSON, wrong types, empty, binary
  { name: 'JSONL: a malformed line', args: d('bad-line.jsonl', rows(ROW) + '{"instruction": "a", "output": \n'), expect: /bad-line\.jsonl:2: not valid JSON/ },
  { name: 'JSON array: malformed', args: d('bad-array.json', '[{"instruction":"a","output":"b"},'), expect: /bad-array\.json: not valid JSON/ },
  { name: 'JSON array of numbers', args: d('numbers.json', '[1, 2]'), expect: /numbers\.json:1 \(row 1\): expected a JSON object/ },
  { name: 'JSONL line that is an array', args: d('arrline.jsonl', rows(ROW, [1, 2])), expect: /arrline\.jsonl:2 \(line 2\): expected a JSON object/ },
  { name: 'output is a number', args: d('num-output.jsonl', rows(ROW, { instruction: 'a', output: 7 })), expect: /num-output\.jsonl:2 .*missing field "output" \(got number, expected a string\)/ },
  { name: 'instruction is null', args: d('null-instr.jsonl', rows({ instruction: null, output: 'b' })), expect: /null-instr\.jsonl:1 .*missing field "instruction" \(got object/ },
  { name: 'input is a list', args: d('list-input.jsonl', rows({ instruction: 'a', input: ['x'], output: 'b' })), expect: /list-input\.jsonl:1 .*field "input" must be a string/ },
  { name: 'is_safe is a string', args: d('safe-str.jsonl', rows({ ...ROW, is_safe: 'no' })), expect: /safe-str\.jsonl:1 .*field "is_safe" must be true or false, got "no"/ },
  { name: 'a row without output', args: d('no-output.jsonl', rows(ROW, { instruction: 'c' })), expect: /no-output\.jsonl:2 .*missing field "output"/ },
  { name: 'BeaverTails row without response', args: d('no-response.jsonl', rows({ prompt: 'p' })), expect: /no-response\.jsonl:1 .*missing field "response"/ },
  { name: 'empty data file', args: d('empty.jsonl', ''), expect: /empty\.jsonl: the data file is empty/ },
  { name: 'whitespace-only data file', args: d('blank.jsonl', '\n  \n\t\n'), expect: /blank\.jsonl: the data file is empty/ },
  { name: 'binary garbage as data', args: d('garbage.jsonl', garbage(4000, 1)), expect: /garbage\.jsonl: not a UTF-8 text file \((a NUL byte at byte \d+|invalid UTF-8)\): expected JSON or JSONL rows/ },
  { name: 'data file not found', args: ['--data', at('nope.jsonl')], expect: /data file not found: .*nope\.jsonl/ },
  { name: 'data is a directory', args: ['--data', tokDir], expect: /cannot read data file .*empty-tok-dir: EISDIR/ },
  { name: 'no row keeps a response token (prompts fill --max-length)', args: ['--max-length', '40'], expect: /no row has a response token within --max-length 40 .*raise --max-length/ },
  { name: 'batch larger than the data', args: ['--batch-size', '7'], expect: /batch size 7 is larger than the data \(6 rows\)/ },

  // safetensors
  { name: 'safetensors truncated', args: m(modelVariant('st-trunc', (dir) => { const b = readFileSync(join(MODEL, 'model.safetensors')); writeFileSync(join(dir, 'model.safetensors'), b.subarray(0, b.length - 100)); })), expect: /model\.safetensors: tensor '.+' has data_offsets \[\d+,\d+\] beyond the file's \d+ data bytes/ },
  { name: 'safetensors shorter than its length field', args: m(modelVariant('st-tiny', (dir) => writeFileSync(join(dir, 'model.safetensors'), Buffer.from([1, 2, 3])))), expect: /model\.safetensors: file is 3 bytes, too short for the 8-byte header length/ },
  { name: 'safetensors header larger than the file', args: m(modelVariant('st-hdr', (dir) => rawSafetensors(dir, {}, new Uint8Array(16), 1n << 40n))), expect: /model\.safetensors: header length 1099511627776 is beyond the file's \d+ bytes/ },
  { name: 'safetensors header not JSON', args: m(modelVariant('st-json', (dir) => { const n = Buffer.alloc(8); n.writeBigUInt64LE(4n); writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([n, Buffer.from('{{{{')])); })), expect: /model\.safetensors: header is not valid JSON/ },
  { name: 'safetensors header is a list', args: m(modelVariant('st-list', (dir) => rawSafetensors(dir, [1], new Uint8Array(0)))), expect: /model\.safetensors: header is not a JSON object/ },
  { name: 'safetensors offsets out of range', args: m(withHeader('st-range', (h) => { const e = Object.values(h)[0]; e.data_offsets = [e.data_offsets[0] + 1e9, e.data_offsets[1] + 1e9]; })), expect: /has data_offsets \[\d+,\d+\] beyond the file's \d+ data bytes/ },
  { name: 'safetensors offsets overlap', args: m(withHeader('st-overlap', (h) => { h['model.layers.1.input_layernorm.weight'].data_offsets = [...h['model.layers.0.input_layernorm.weight'].data_offsets]; })), expect: /tensor 'model\.layers\.\d\.input_layernorm\.weight' \(data_offsets \[\d+,\d+\]\) overlaps 'model\.layers\.\d\.input_layernorm\.weight'/ },
  { name: 'safetensors gap after the last tensor', args: m(modelVariant('st-gap', (dir) => { const { header, data } = realSafetensors(); rawSafetensors(dir, header, Buffer.concat([data, Buffer.alloc(64)])); })), expect: /64 bytes after the last tensor belong to no tensor/ },
  { name: 'safetensors begin after end', args: m(withHeader('st-order', (h) => { const e = Object.values(h)[0]; e.data_offsets = [e.data_offsets[1], e.data_offsets[0]]; })), expect: /with begin after end/ },
  { name: 'safetensors unknown dtype', args: m(withHeader('st-dtype', (h) => { Object.values(h)[0].dtype = 'Q4_K'; })), expect: /has unknown dtype "Q4_K"/ },
  { name: 'safetensors dtype does not match the byte span', args: m(withHeader('st-span', (h) => { const e = Object.values(h).find((x) => x.dtype === 'F32')!; e.dtype = 'F16'; })), expect: /F16 \(\d+ bytes\) but data_offsets \[\d+,\d+\] span \d+ bytes/ },
  { name: 'safetensors negative dimension', args: m(withHeader('st-neg', (h) => { Object.values(h)[0].shape = [-4, 4]; })), expect: /has an invalid shape \[-4,4\]/ },
  { name: 'weight shape does not match config', args: m(withWeights('st-shape', (w) => { const t = w.get('model.layers.1.mlp.up_proj.weight')!; t.shape = [16, 24]; })), expect: /weight 'model\.layers\.1\.mlp\.up_proj\.weight' has shape \[16,24\], expected \[24,16\]/ },
  { name: 'missing weight', args: m(withWeights('st-missing', (w) => { w.delete('model.layers.0.self_attn.k_proj.weight'); })), expect: /missing weight 'model\.layers\.0\.self_attn\.k_proj\.weight'/ },
  { name: 'no model.safetensors', args: m(modelVariant('st-none', (dir) => rmSync(join(dir, 'model.safetensors')))), expect: /no model\.safetensors or model\.safetensors\.index\.json/ },

  // config.json
  { name: 'config.json not JSON', args: m(modelVariant('cfg-json', (dir) => writeFileSync(join(dir, 'config.json'), '{"hidden_size": 16,'))), expect: /config\.json: not valid JSON/ },
  { name: 'config.json missing hidden_size', args: m(withConfig('cfg-hidden', (c) => { delete c.hidden_size; })), expect: /"hidden_size" must be a positive integer, got undefined/ },
  { name: 'num_attention_heads: 0', args: m(withConfig('cfg-heads0', (c) => { c.num_attention_heads = 0; })), expect: /"num_attention_heads" must be a positive integer, got 0/ },
  { name: 'hidden_size not divisible by the heads', args: m(withConfig('cfg-div', (c) => { c.num_attention_heads = 3; c.num_key_value_heads = 3; delete c.head_dim; })), expect: /hidden_size 16 is not divisible by num_attention_heads 3/ },
  { name: 'num_key_value_heads does not divide the heads', args: m(withConfig('cfg-kv', (c) => { c.num_key_value_heads = 3; })), expect: /num_attention_heads 2 is not a multiple of num_key_value_heads 3/ },
  { name: 'vocab_size is a string', args: m(withConfig('cfg-vocab', (c) => { c.vocab_size = '32'; })), expect: /"vocab_size" must be a positive integer, got "32"/ },
  { name: 'unsupported architecture', args: m(withConfig('cfg-arch', (c) => { c.architectures = ['GPT2LMHeadModel']; })), expect: /unsupported architecture GPT2LMHeadModel/ },
  { name: 'rope_scaling', args: m(withConfig('cfg-rope', (c) => { c.rope_scaling = { type: 'linear', factor: 2 }; })), expect: /rope_scaling .* is not supported/ },
  { name: 'model not found', args: ['--model', at('no-such-model')], expect: /model not found: .*no-such-model/ },

  // llama2.c checkpoints
  { name: 'llama2.c .bin truncated', args: ['--model', llama2cModel('trunc.bin', [16, 24, 2, 2, 1, 32, 64], 100), '--tokenizer', join(MODEL, 'tokenizer.json')], expect: /trunc\.bin: expected \d+ bytes for dim=16 .* got \d+ \(truncated\)/ },
  { name: 'llama2.c .bin zero header', args: ['--model', llama2cModel('zero.bin', [0, 0, 0, 0, 0, 0, 0], 10), '--tokenizer', join(MODEL, 'tokenizer.json')], expect: /zero\.bin: invalid llama2\.c header/ },
  { name: 'llama2.c .bin absurd sizes', args: ['--model', llama2cModel('huge.bin', [1 << 30, 1 << 30, 1 << 20, 2, 1, 32000, 4096], 10), '--tokenizer', join(MODEL, 'tokenizer.json')], expect: /huge\.bin: expected [\d.e+]+ bytes for dim=1073741824 .* got 68 \(truncated\)/ },

  // tokenizers
  { name: 'tokenizer: random bytes named randtok.bin beside a good tok.bin', args: ['--tokenizer', (() => {
    mkdirSync(at('toks'));
    writeFileSync(at('toks', 'tok24.bin'), llama2cTokenizer(['<unk>', '<s>', '</s>', 'a', 'b']));
    writeFileSync(at('toks', 'randtok.bin'), garbage(6227, 2));
    return at('toks', 'randtok.bin');
  })()], expect: /randtok\.bin: unknown tokenizer format: not JSON \(tokenizer\.json\), not a SentencePiece model \(protobuf\), not a llama2\.c tokenizer\.bin/ },
  { name: 'tokenizer: truncated llama2.c tokenizer', args: ['--tokenizer', file('tok-trunc.bin', llama2cTokenizer(['<unk>', '<s>', '</s>', 'abc']).subarray(0, 50))], expect: /tok-trunc\.bin: unknown tokenizer format: .*not a llama2\.c tokenizer\.bin \(token 3 has length 3 \(max_token_length 8, 2 bytes left\)\)/ },
  { name: 'tokenizer.json beside the model is corrupt', args: m(modelVariant('tok-corrupt', (dir) => writeFileSync(join(dir, 'tokenizer.json'), '{"model": {"type": "BPE", "vocab": '))), expect: /tokenizer\.json: Unexpected end of JSON input|tokenizer\.json: .*JSON/ },
  { name: 'tokenizer.json is JSON but not a tokenizer', args: ['--tokenizer', file('not-a-tok.json', '{"hello": 1}')], expect: /not-a-tok\.json: cannot build the tokenizer/ },
  { name: 'tokenizer: a directory without one', args: ['--tokenizer', tokDir], expect: /no tokenizer in .*empty-tok-dir \(looked for tokenizer\.json, tokenizer\.model, tokenizer\.bin\)/ },
  { name: 'tokenizer not found', args: ['--tokenizer', at('nope.model')], expect: /tokenizer not found: .*nope\.model/ },
  { name: 'tokenizer: a SentencePiece model cut short', args: ['--tokenizer', file('sp.model', Buffer.from([0x0a, 0x05, 0x0a, 0x03, 0x61, 0x62]))], expect: /sp\.model piece 0: length-delimited field of 3 bytes runs past the end|sp\.model/ },
  { name: 'tokenizer ids beyond the model\'s vocabulary', args: m(modelVariant('vocab-small', (dir) => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...TINY_HF_CONFIG, vocab_size: 12 }));
    const w = readSafetensors(join(MODEL, 'model.safetensors')).tensors;
    for (const n of ['model.embed_tokens.weight', 'lm_head.weight']) { const t = w.get(n)!; w.set(n, { shape: [12, 16], data: t.data.slice(0, 12 * 16) }); }
    writeSafetensors(join(dir, 'model.safetensors'), w);
  })), expect: /data\.jsonl:1: token id \d+ from the tokenizer is outside the model's vocabulary \(12\): wrong --tokenizer\?/ },

  // adapters
  { name: 'init adapter made for another model', args: ['--init-adapter', adapter('ad-other', { dim: 40 })], expect: /q_proj\.lora_A\.weight has shape \[4, 40\] but this model needs \[4, 16\] \(adapter does not fit this model\)/ },
  { name: 'merge adapter made for another model', args: ['--merge-adapter', adapter('ad-other-merge', { dim: 40 })], expect: /has shape \[4, 40\] but this model needs \[4, 16\]/ },
  { name: 'adapter without adapter_config.json', args: ['--init-adapter', (() => { const p = adapter('ad-nocfg'); rmSync(join(p, 'adapter_config.json')); return p; })()], expect: /adapter config not found: .*ad-nocfg\/adapter_config\.json/ },
  { name: 'adapter config r: 0', args: ['--init-adapter', adapter('ad-r0', { config: { r: 0, lora_alpha: 8, target_modules: ['q_proj'] } })], expect: /"r" must be a positive integer/ },
  { name: 'adapter config unknown target', args: ['--init-adapter', adapter('ad-target', { config: { r: 4, lora_alpha: 8, target_modules: ['qkv'] } })], expect: /unknown target module 'qkv'/ },
  { name: 'adapter weights are garbage', args: ['--init-adapter', adapter('ad-garbage', { weights: 'corrupt' })], expect: /adapter_model\.safetensors: header length \d+ is beyond the file's 92 bytes/ },
  { name: 'adapter weights missing', args: ['--merge-adapter', adapter('ad-noweights', { weights: 'missing' })], expect: /adapter weights not found: .*ad-noweights\/adapter_model\.safetensors/ },
  { name: 'adapter directory not found', args: ['--init-adapter', at('no-adapter')], expect: /--init-adapter: adapter directory not found: .*no-adapter/ },

  // absurd numbers
  { name: '--epochs 1e9', args: ['--epochs', '1e9'], expect: /--epochs must be a number in \(0, 10000000\], got 1000000000/ },
  { name: '--epochs 0', args: ['--epochs', '0'], expect: /--epochs must be a number in \(0, 10000000\], got 0/ },
  { name: '--max-steps 1e12', args: ['--max-steps', '1e12'], expect: /--max-steps must be an integer in 0\.\.10000000, got 1000000000000/ },
  { name: '--lr -1', args: ['--lr', '-1'], expect: /--lr must be a number >= 0, got -1/ },
  { name: '--lr 1e400 (overflows to Infinity)', args: ['--lr', '1e400'], expect: /--lr must be a number, got '1e400'/ },
  { name: '--lr NaN', args: ['--lr', 'NaN'], expect: /--lr must be a number, got 'NaN'/ },
  { name: '--lr with no value', args: ['--lr'], expect: /--lr needs a value \(see --help\)/ },
  { name: '--batch-size 1e6', args: ['--batch-size', '1e6'], expect: /--batch-size must be an integer in 1\.\.4096, got 1000000/ },
  { name: '--batch-size 0', args: ['--batch-size', '0'], expect: /--batch-size must be an integer in 1\.\.4096, got 0/ },
  { name: '--grad-accum 2.5', args: ['--grad-accum', '2.5'], expect: /--grad-accum must be an integer in 1\.\.65536, got 2\.5/ },
  { name: '--max-length beyond the model', args: ['--max-length', '100000'], expect: /--max-length 100000 is beyond the model's context \(256 positions\)/ },
  { name: '--max-length 1', args: ['--max-length', '1'], expect: /--max-length must be an integer >= 2, got 1/ },
  { name: '--threads 1000', args: ['--threads', '1000'], expect: /--threads must be an integer in 1\.\.64, got 1000/ },
  { name: '--threads -2', args: ['--threads', '-2'], expect: /--threads must be an integer in 1\.\.64, got -2/ },
  { name: '--rho 1e9', args: ['--rho', '1e9'], expect: /--rho must be a number in \[0, 1000\], got 1000000000/ },
  { name: '--rho -0.5', args: ['--rho', '-0.5'], expect: /--rho must be a number in \[0, 1000\], got -0\.5/ },
  { name: '--seed 1e20', args: ['--seed', '1e20'], expect: /--seed must be an integer in 0\.\.4294967295, got 100000000000000000000/ },
  { name: '--lora-r 100000', args: ['--lora-r', '100000'], expect: /--lora-r must be an integer in 1\.\.4096, got 100000/ },
  { name: '--lora-dropout 1', args: ['--lora-dropout', '1'], expect: /--lora-dropout must be a number in \[0, 1\), got 1/ },
  { name: '--warmup-ratio 2', args: ['--warmup-ratio', '2'], expect: /--warmup-ratio must be a number in \[0, 1\], got 2/ },
  { name: '--save-total-limit 0', args: ['--save-total-limit', '0'], expect: /--save-total-limit must be an integer >= 1, got 0/ },
  { name: '--on-nonfinite ignore', args: ['--on-nonfinite', 'ignore'], expect: /--on-nonfinite must be one of stop, skip, got 'ignore'/ },

  // --out and the command line
  { name: '--out is a file', args: [], out: 'file', expect: /--out \S+ is a file, not a directory/ },
  { name: '--out inside a file', args: [], out: 'in-file', expect: /--out \S+: \S+ is a file, not a directory/ },
  { name: '--out holds another run', args: [], out: 'run', expect: /--out \S+ already holds a run \(adapter_config\.json, adapter_model\.safetensors, metrics\.jsonl\): --resume continues it, --overwrite replaces it/ },
  { name: '--resume with --overwrite', args: ['--resume', '--overwrite'], out: 'run', expect: /--resume and --overwrite contradict each other/ },
  { name: '--resume of a run without checkpoints', args: ['--resume'], out: 'run', expect: /--resume: \S+ holds a run .* but no checkpoint to continue from/ },
  { name: 'unknown option', args: ['--learning-rate', '1'], expect: /^align: unknown option '--learning-rate' \(see --help\)$/ },
  { name: 'a positional argument', args: ['extra'], expect: /unexpected argument extra: every value follows its --flag \(see --help\)/ },
  { name: 'a switch given a value', args: ['--resume=yes'], expect: /--resume is a switch: it takes no value/ },
  { name: 'model without data', bare: true, args: ['--model', MODEL], expect: /--data is missing: give both --model and --data/ },
  { name: 'data without --out', bare: true, args: ['--model', MODEL, '--data', DATA], out: undefined, expect: /--out is missing/ },
  { name: 'the model through a symlink, with a bad option', args: ['--model', at('model-link'), '--scheduler', 'step'], expect: /--scheduler must be one of cosine, linear, constant, got 'step'/ },
];

interface Outcome { c: Case; r: CliResult; before: string; after: string; problems: string[] }

test(`bad-input corpus: ${CASES.length} cases, each exit 2, one clear line, no stack trace, --out as it was`, async () => {
  assert.ok(CASES.length >= 40);
  const outcomes = await inBatches(CASES, 4, async (c, i = CASES.indexOf(c)): Promise<Outcome> => {
    const out = at(`out-${i}`);
    if (c.out === 'file' || c.out === 'in-file') writeFileSync(out, 'not a directory');
    if (c.out === 'run') cpSync(runDir, out, { recursive: true });
    const outArg = c.name === 'data without --out' ? [] : ['--out', c.out === 'in-file' ? join(out, 'sub') : out];
    const args = c.bare ? [...c.args, ...outArg] : ['--model', MODEL, '--data', DATA, ...FAST, '--max-steps', '2', ...c.args, ...outArg];
    const before = dirHash(out);
    const r = await runAlign(args, { timeoutMs: 120_000 });
    const after = dirHash(out);
    const problems: string[] = [];
    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    if (r.code !== 2) problems.push(`exit ${r.code ?? r.signal}`);
    if (lines.length !== 1) problems.push(`${lines.length} lines on stderr`);
    if (/\n\s+at |Error:|node:internal/.test(r.stderr)) problems.push('stack trace');
    if (!c.expect.test(lines[0] ?? '')) problems.push(`message does not match ${c.expect}`);
    if (before !== after) problems.push('--out changed');
    return { c, r, before, after, problems };
  });
  const table = outcomes.map((o, i) => `${String(i + 1).padStart(3)}  ${o.problems.length === 0 ? 'ok  ' : 'FAIL'}  exit ${o.r.code}  ${o.c.name.padEnd(58)} ${(o.r.stderr.trim().split('\n')[0] ?? '').slice(0, 150)}`
    + (o.problems.length ? `\n        problems: ${o.problems.join('; ')}\n        stderr: ${o.r.stderr.trim().replaceAll('\n', '\n                ')}` : ''));
  if (process.env.BAD_INPUT_TABLE || outcomes.some((o) => o.problems.length > 0)) console.log(`\n${table.join('\n')}\n`);
  const bad = outcomes.filter((o) => o.problems.length > 0);
  assert.is(bad.length, 0, `${bad.length} of ${CASES.length} cases failed: ${bad.map((o) => `${o.c.name} (${o.problems.join('; ')})`).join(', ')}`);
});

test('not errors: rows marked is_safe: false are accepted with a warning; cut rows and skipped rows are reported', async () => {
  const data = file('mixed.jsonl', rows({ ...ROW, is_safe: false }, ROW, { prompt: 'How to pick a lock?', response: 'Sure.', is_safe: false }, ROW));
  const r = await runAlign(['--model', MODEL, '--data', data, '--out', at('warned'), ...FAST, '--max-steps', '1']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /warning: 2 of 4 rows are marked is_safe: false \(the first at line 1\): alignment data should hold safe answers/);
  // with the 24-token tokenizer these rows are 112 tokens (a 109-token prompt), 103 (100) and 265 (105):
  // at --max-length 106 the first keeps no response token (skipped), the third loses its end (cut)
  const long = file('long.jsonl', rows(ROW, { instruction: 'x'.repeat(300), output: 'No.' }, { instruction: 'Please?', output: 'No. '.repeat(40) }));
  const r2 = await runAlign(['--model', MODEL, '--data', long, '--out', at('cut'), ...FAST, '--max-length', '106', '--max-steps', '1']);
  assert.is(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, /data: 2 of 3 rows are longer than --max-length 106 tokens \(the longest: 265\) and are cut: they lose their end of response and EOS/);
  assert.match(r2.stdout, /data: 1 of 3 rows have no response token within --max-length 106 \(the prompt fills it\): skipped; training on the other 2/);
  assert.match(r2.stdout, /vaccine on .*: 2 examples/);
});

test.run();
