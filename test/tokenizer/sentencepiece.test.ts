// llama2.c tokenizer.bin and SentencePiece tokenizer.model: known ids, agreement with each other and
// with a direct O(n^2) transcription of run.c's encode loop, and decode round trips.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_DIR } from '../helpers.ts';
import { Llama2cTokenizer } from '../../engine/tokenizer/llama2c.ts';
import { loadTokenizer } from '../../engine/tokenizer/load.ts';
import { SentencePieceTokenizer } from '../../engine/tokenizer/sentencepiece.ts';
import { scratchDir } from '../io/tmp.ts';

const TOK512 = join(DATA_DIR, 'models/stories260K/tok512.bin');
const LLAMA_BIN = join(DATA_DIR, 'tokenizers/llama2/tokenizer.bin');
const LLAMA_MODEL = join(DATA_DIR, 'tokenizers/llama2/tokenizer.model');

const SAMPLES = [
  'Once upon a time',
  'Hello world',
  'Héllo wörld, ça va? Größe naïve café',
  '日本語のテキストと中文',
  'emoji 🦙🚀 and ✓ symbols',
  'line one\nline two\n\n  indented\ttab',
  'multiple    spaces   here  ',
  ' leading space',
  'x',
  'hmmm..... ======= aaaaa zzz ------ !!!',
  'The quick brown fox jumps over the lazy dog. 1234567890 !@#$%^&*()',
];

/** run.c's encode, transcribed directly (linear scans for the best pair each round); like SentencePiece,
 *  control and <0xXX> pieces are not matched against text. */
function runcEncode(tok: Llama2cTokenizer, text: string): number[] {
  const dec = new TextDecoder();
  const strs = tok.pieces.map((p) => dec.decode(p));
  const lookup = new Map<string, number>();
  strs.forEach((s, i) => { if (i > 2 && !/^<0x[0-9A-F]{2}>$/.test(s) && !lookup.has(s)) lookup.set(s, i); });
  const ids: number[] = [];
  if (text.length > 0) ids.push(lookup.get(' ')!);
  for (const ch of text) {
    const id = lookup.get(ch);
    if (id !== undefined) ids.push(id);
    else for (const b of new TextEncoder().encode(ch)) ids.push(b + 3);
  }
  for (;;) {
    let best = -1e10, bestId = -1, bestIdx = -1;
    for (let i = 0; i + 1 < ids.length; i++) {
      const id = lookup.get(strs[ids[i]] + strs[ids[i + 1]]);
      if (id !== undefined && tok.scores[id] > best) { best = tok.scores[id]; bestId = id; bestIdx = i; }
    }
    if (bestIdx < 0) break;
    ids.splice(bestIdx, 2, bestId);
  }
  return ids;
}

if (existsSync(TOK512)) {
  test('tok512.bin: "Once upon a time" -> [1, 403, 407, 261, 378], decode round trips', () => {
    const tok = loadTokenizer(TOK512);
    assert.is(tok.vocabSize, 512);
    const ids = tok.encode('Once upon a time', { bos: true });
    assert.equal(ids, [1, 403, 407, 261, 378]);
    assert.is(tok.decode(ids), 'Once upon a time');
    assert.equal(tok.encode('Once upon a time', { bos: true, eos: true }).at(-1), 2);
    for (const s of SAMPLES) assert.is(tok.decode(tok.encode(s, { bos: true, eos: true })), s, s);
    // streaming: the dummy-prefix space is dropped after BOS only
    assert.is(tok.decodeToken!(1, 403), 'Once');
    assert.is(tok.decodeToken!(403, 407), ' upon');
  });
  test('loadTokenizer finds tok512.bin beside stories260K.bin', () => {
    const tok = loadTokenizer(join(DATA_DIR, 'models/stories260K/stories260K.bin'));
    assert.ok(tok instanceof Llama2cTokenizer);
    assert.is(tok.vocabSize, 512);
  });
} else {
  console.log(`(skipping tok512 tests: ${TOK512} not found)`);
}

if (existsSync(LLAMA_BIN) && existsSync(LLAMA_MODEL)) {
  const bin = loadTokenizer(LLAMA_BIN) as Llama2cTokenizer;
  const sp = loadTokenizer(LLAMA_MODEL) as SentencePieceTokenizer;

  test('Llama 2: ids known from the Llama 2 tokenizer', () => {
    assert.ok(sp instanceof SentencePieceTokenizer);
    assert.equal(sp.encode('Hello world', { bos: true }), [1, 15043, 3186]);
    assert.equal(sp.encode('\n'), [29871, 13]); // "▁" then byte fallback <0x0A>
    assert.is(sp.vocabSize, 32000);
    assert.is(sp.bosId, 1);
    assert.is(sp.eosId, 2);
  });

  test('Llama 2: tokenizer.model and tokenizer.bin give identical ids, equal to run.c\'s loop', () => {
    const all = SAMPLES.join('\n') + ' ' + SAMPLES.slice().reverse().join('  ');
    for (const s of [...SAMPLES, all, '']) {
      const a = bin.encode(s, { bos: true, eos: true });
      const b = sp.encode(s, { bos: true, eos: true });
      assert.equal(b, a, s);
      assert.equal(a.slice(1, -1), runcEncode(bin, s), `run.c loop: ${s}`);
    }
    // the emoji has no piece: it must come out as its four UTF-8 bytes (ids byte + 3)
    const ids = sp.encode('🦙');
    assert.equal(ids.slice(-4), [...new TextEncoder().encode('🦙')].map((b) => b + 3));
  });

  test('Llama 2: decode round trips for both formats', () => {
    for (const s of SAMPLES) {
      assert.is(bin.decode(bin.encode(s, { bos: true, eos: true })), s, s);
      assert.is(sp.decode(sp.encode(s, { bos: true, eos: true })), s, s);
      assert.is(sp.decode(sp.encode(s)), s, `no BOS: ${s}`);
    }
  });
} else {
  console.log(`(skipping Llama 2 tokenizer tests: ${LLAMA_BIN} / ${LLAMA_MODEL} not found)`);
}

test('bad tokenizer files: missing, truncated, unknown extension', () => {
  const dir = scratchDir('tok');
  const msg = (fn: () => unknown) => { try { fn(); } catch (e) { return (e as Error).message; } return 'no error'; };
  assert.ok(msg(() => loadTokenizer(join(dir, 'tokenizer.bin'))).includes('tokenizer not found'));
  const trunc = join(dir, 'tokenizer.bin');
  const b = Buffer.alloc(4 + 8 + 2); b.writeInt32LE(4, 0); b.writeFloatLE(0, 4); b.writeInt32LE(3, 8);
  writeFileSync(trunc, b);
  assert.match(msg(() => loadTokenizer(trunc)), /tokenizer\.bin: unknown tokenizer format: .*not a llama2\.c tokenizer\.bin \(token 0 has length 3/);
  const spBad = join(dir, 'tokenizer.model');
  writeFileSync(spBad, Buffer.from([0x0a, 0x50, 0x01]));
  assert.ok(msg(() => loadTokenizer(spBad)).includes('tokenizer.model'));
  const other = join(dir, 'vocab.txt');
  writeFileSync(other, 'a');
  assert.ok(msg(() => loadTokenizer(other)).includes('unknown tokenizer format'));
  assert.ok(msg(() => loadTokenizer(dir)).includes('tokenizer.model'), 'directory picks tokenizer.model (corrupt here)');
});

test.run();
