// SentencePiece ModelProto parsing and normalizer options on a model serialized by hand here
// (protobuf wire format written directly, independent of the reader under test).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer } from '../../engine/tokenizer/load.ts';
import { parseSentencePieceModel, SentencePieceTokenizer } from '../../engine/tokenizer/sentencepiece.ts';
import { scratchDir } from '../io/tmp.ts';

const varint = (n: number): number[] => {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do { const b = Number(v & 0x7fn); v >>= 7n; out.push(v ? b | 0x80 : b); } while (v);
  return out;
};
const key = (field: number, wire: number) => varint(field * 8 + wire);
const lenField = (field: number, body: number[]) => [...key(field, 2), ...varint(body.length), ...body];
const strField = (field: number, s: string) => lenField(field, [...Buffer.from(s, 'utf8')]);
const intField = (field: number, v: number) => [...key(field, 0), ...varint(v)];
const floatField = (field: number, v: number) => { const b = Buffer.alloc(4); b.writeFloatLE(v); return [...key(field, 5), ...b]; };

// [piece, score, type]  types: 1 normal, 2 unknown, 3 control, 4 user-defined
const PIECES: Array<[string, number, number]> = [
  ['<unk>', 0, 2], ['<s>', 0, 3], ['</s>', 0, 3], ['\u2581', -3, 1], ['a', -4, 1], ['b', -4, 1], ['c', -4, 1],
  ['ab', -1, 1], ['bc', -0.5, 1], ['<sep>', 0, 4], ['\u2581a', -2, 1],
];

function modelBytes(normalizer: { addDummyPrefix?: boolean; removeExtra?: boolean }, extraTrainer: number[] = []): Buffer {
  const bytes: number[] = [];
  for (const [piece, score, type] of PIECES) {
    // type NORMAL is the proto2 default: leave it out for normal pieces, as SentencePiece does
    bytes.push(...lenField(1, [...strField(1, piece), ...floatField(2, score), ...(type === 1 ? [] : intField(3, type))]));
  }
  bytes.push(...lenField(2, [...intField(3, 2), ...intField(40, 0), ...intField(41, 1), ...intField(42, 2), ...intField(43, -1), ...extraTrainer]));
  const norm = [...strField(1, 'identity')];
  if (normalizer.addDummyPrefix !== undefined) norm.push(...intField(3, normalizer.addDummyPrefix ? 1 : 0));
  if (normalizer.removeExtra !== undefined) norm.push(...intField(4, normalizer.removeExtra ? 1 : 0));
  bytes.push(...lenField(3, norm));
  bytes.push(...strField(99, 'an unknown field the reader must skip'));
  return Buffer.from(bytes);
}

const dir = scratchDir('spm');

test('parses pieces, trainer_spec (incl. negative pad_id) and normalizer_spec', () => {
  const m = parseSentencePieceModel(modelBytes({ addDummyPrefix: false, removeExtra: true }), 'x.model');
  assert.is(m.pieces.length, PIECES.length);
  assert.equal(m.pieces.map((p) => [p.piece, p.score, p.type]), PIECES);
  assert.is(m.modelType, 2);
  assert.equal([m.unkId, m.bosId, m.eosId], [0, 1, 2]);
  assert.is(m.addDummyPrefix, false);
  assert.is(m.removeExtraWhitespaces, true);
  assert.is(m.normalizerName, 'identity');
  const d = parseSentencePieceModel(modelBytes({}), 'x.model');
  assert.is(d.addDummyPrefix, true);          // proto2 defaults
  assert.is(d.removeExtraWhitespaces, true);
});

test('encode: score order, user-defined pieces whole, unknown chars, whitespace options', () => {
  const p = join(dir, 'tokenizer.model');
  writeFileSync(p, modelBytes({ addDummyPrefix: false, removeExtra: true }));
  const tok = loadTokenizer(p) as SentencePieceTokenizer;
  assert.equal(tok.encode('abc'), [4, 8]);               // bc (-0.5) beats ab (-1): a + bc
  assert.equal(tok.encode('ab'), [7]);
  assert.equal(tok.encode('ab<sep>bc'), [7, 9, 8]);      // <sep> matched whole, never merged
  assert.equal(tok.encode('  a   b '), [4, 3, 5]);       // extra spaces removed: "a▁b", and no piece joins across that ▁
  assert.equal(tok.encode('axb'), [4, 0, 5]);            // no byte fallback: x -> <unk>
  assert.equal(tok.encode('a', { bos: true, eos: true }), [1, 4, 2]);
  assert.is(tok.decode([7, 9, 8]), 'ab<sep>bc');
  assert.is(tok.decode([4, 3, 5]), 'a b');
  assert.is(tok.decode([4, 0, 5]), 'a \u2047 b');        // SentencePiece's surface for <unk>

  writeFileSync(p, modelBytes({ addDummyPrefix: true, removeExtra: false }));
  const tok2 = loadTokenizer(p);
  assert.equal(tok2.encode('a  b'), [10, 3, 3, 5]);      // "▁a▁▁b": ▁a (-2) merges first
  assert.is(tok2.decode(tok2.encode('a  b', { bos: true })), 'a  b');
});

test('non-BPE models are refused by name', () => {
  const p = join(dir, 'unigram.model');
  writeFileSync(p, Buffer.concat([modelBytes({}), Buffer.from(lenField(2, intField(3, 1)))]));
  try { loadTokenizer(p); } catch (e) {
    assert.ok((e as Error).message.includes('unigram.model: SentencePiece model_type 1 is not supported (only BPE = 2)'), (e as Error).message);
    return;
  }
  assert.unreachable();
});

test.run();
