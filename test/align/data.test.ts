// Alignment data: the Alpaca templates (verbatim from the issue), row formats, label masking,
// truncation, padding and the seeded order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BatchOrder, collate, countLossTokens, DataError, encodeExample, formatPrompt, parseRows } from '../../engine/data.ts';
import { ByteTokenizer } from '../../engine/tokenizer/bytes.ts';

const tok = new ByteTokenizer();
const enc = (t: string) => tok.encode(t, { bos: true });

test('prompt templates are the issue\'s text, verbatim', () => {
  assert.is(formatPrompt({ instruction: 'Do X.', input: 'Y' }),
    'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\nDo X.\n\n### Input:\nY\n\n### Response:');
  assert.is(formatPrompt({ instruction: 'Do X.', input: '' }),
    'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nDo X.\n\n### Response:');
  assert.is(formatPrompt({ instruction: 'Do X.' }), formatPrompt({ instruction: 'Do X.', input: '' }));
  // user text with template-like or replacement-pattern characters stays literal
  assert.ok(formatPrompt({ instruction: 'a $& b {input}', input: '' }).includes('a $& b {input}'));
});

test('JSONL and JSON array rows; BeaverTails maps prompt/response', () => {
  const jsonl = '{"instruction":"a","input":"","output":"b"}\n\n{"prompt":"p","response":"r","is_safe":false}\n';
  const rows = parseRows(jsonl, 'f.jsonl');
  assert.equal(rows.map((r) => [r.instruction, r.input, r.output, r.line]), [['a', '', 'b', 1], ['p', '', 'r', 3]]);
  const arr = parseRows('[{"instruction":"a","output":"b"},{"instruction":"c","input":"i","output":"d"}]', 'f.json');
  assert.equal(arr.map((r) => [r.instruction, r.input, r.output]), [['a', '', 'b'], ['c', 'i', 'd']]);
});

test('a missing field names the file and the 1-based line; empty file is an error', () => {
  const text = '{"instruction":"a","output":"b"}\n{"instruction":"a"}\n';
  try { parseRows(text, 'data.jsonl'); assert.unreachable(); } catch (e) {
    assert.instance(e, DataError);
    assert.match((e as Error).message, 'data.jsonl:2');
    assert.match((e as Error).message, 'missing field "output"');
  }
  assert.throws(() => parseRows('  \n', 'empty.jsonl'), (e: Error) => e instanceof DataError && /empty\.jsonl: the data file is empty/.test(e.message));
  assert.throws(() => parseRows('{"prompt":"x"}\n', 'b.jsonl'), (e: Error) => /b\.jsonl:1.*missing field "response"/.test(e.message));
});

test('ids = BOS + tokens(prompt + output) + EOS; prompt positions masked', () => {
  const row = { instruction: 'Hi', input: '', output: 'No.', line: 1 };
  const ex = encodeExample(row, enc, tok.eosId, 1000);
  const prompt = formatPrompt(row);
  const expectIds = [256, ...new TextEncoder().encode(prompt + 'No.'), 257];
  assert.equal(Array.from(ex.ids), expectIds);
  const promptLen = 1 + new TextEncoder().encode(prompt).length;
  for (let i = 0; i < ex.labels.length; i++) assert.is(ex.labels[i], i < promptLen ? -100 : expectIds[i]);
  // truncation keeps the first maxLength positions of both
  const short = encodeExample(row, enc, tok.eosId, 10);
  assert.equal(Array.from(short.ids), expectIds.slice(0, 10));
  assert.ok(Array.from(short.labels).every((l) => l === -100));
});

test('collate pads on the right with label -100 and records lengths', () => {
  const a = { ids: Int32Array.of(1, 2, 3), labels: Int32Array.of(-100, 2, 3) };
  const b = { ids: Int32Array.of(4), labels: Int32Array.of(4) };
  const batch = collate([a, b], 9);
  assert.is(batch.B, 2); assert.is(batch.T, 3);
  assert.equal(Array.from(batch.ids), [1, 2, 3, 4, 9, 9]);
  assert.equal(Array.from(batch.labels), [-100, 2, 3, 4, -100, -100]);
  assert.equal(Array.from(batch.lengths), [3, 1]);
  // shifted: row 0 predicts labels at t=1,2; row 1 has no label after position 0
  assert.is(countLossTokens(batch), 2);
});

test('batch order: a permutation per epoch, seeded, reproducible; --no-shuffle keeps file order', () => {
  const o1 = new BatchOrder(10, 3, 43, true), o2 = new BatchOrder(10, 3, 43, true), o3 = new BatchOrder(10, 3, 44, true);
  assert.is(o1.batchesPerEpoch, 4);
  const p0 = Array.from(o1.permutation(0));
  assert.equal([...p0].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(Array.from(o2.permutation(0)), p0);
  assert.not.equal(Array.from(o3.permutation(0)), p0);
  assert.not.equal(Array.from(o1.permutation(1)), p0);
  // micro-batch 5 = epoch 1, batch 1; the epoch's last batch is short
  assert.equal(Array.from(o1.microBatch(5).indices), Array.from(o1.permutation(1)).slice(3, 6));
  assert.is(o1.microBatch(7).indices.length, 1);
  const plain = new BatchOrder(5, 2, 43, false);
  assert.equal(Array.from(plain.microBatch(1).indices), [2, 3]);
  assert.throws(() => new BatchOrder(3, 4, 43, true), /batch size 4 is larger than the data \(3 rows\)/);
});

test.run();
