// Tokenizer files are recognised by their content, never by their names: JSON (tokenizer.json),
// llama2.c records that end exactly at the end of the file, a SentencePiece protobuf; random bytes
// of any size are none of them. A tokenizer a user names is opened as named (openTokenizer); only
// the model's own tokenizer is looked for beside a llama2.c checkpoint (loadTokenizer).
import { existsSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveTokenizer } from '../../engine/jobs/resolve.ts';
import { Rng } from '../../engine/random.ts';
import { Llama2cTokenizer } from '../../engine/tokenizer/llama2c.ts';
import { loadTokenizer, MAX_TOKENIZER_BYTES, openTokenizer, sniffTokenizer } from '../../engine/tokenizer/load.ts';
import { SentencePieceTokenizer } from '../../engine/tokenizer/sentencepiece.ts';
import { DATA_DIR } from '../helpers.ts';
import { scratchDir } from './tmp.ts';

const dir = scratchDir('tokfmt');
const HF_JSON = new URL('../fixtures/hf-tiny-tokenizer/tokenizer.json', import.meta.url).pathname;

function llama2c(pieces: string[], maxLen = 8): Buffer {
  const parts = [Buffer.from(Int32Array.of(maxLen).buffer)];
  for (const [i, p] of pieces.entries()) {
    const h = Buffer.alloc(8);
    h.writeFloatLE(-i, 0);
    h.writeInt32LE(Buffer.byteLength(p), 4);
    parts.push(h, Buffer.from(p));
  }
  return Buffer.concat(parts);
}
// a SentencePiece ModelProto with three pieces (field 1: {1: text, 2: score}) and a BPE trainer_spec
function sentencePiece(): Buffer {
  const piece = (s: string) => { const t = Buffer.from(s); const body = Buffer.concat([Buffer.from([0x0a, t.length]), t, Buffer.from([0x15, 0, 0, 0, 0])]); return Buffer.concat([Buffer.from([0x0a, body.length]), body]); };
  return Buffer.concat([piece('<unk>'), piece('<s>'), piece('</s>'), piece('\u2581a'), Buffer.from([0x12, 0x02, 0x18, 0x02])]);
}
const random = (n: number, seed: number) => { const r = new Rng(seed); return Buffer.from(Uint8Array.from({ length: n }, () => Math.floor(r.next() * 256))); };

test('formats by content: JSON, llama2.c, SentencePiece; random bytes and near misses are none', () => {
  assert.equal(sniffTokenizer(readFileSync(HF_JSON)), { format: 'tokenizer.json' });
  assert.equal(sniffTokenizer(Buffer.from('\ufeff  \n{"model": {}}')), { format: 'tokenizer.json' }, 'BOM and blanks before the object');
  assert.equal(sniffTokenizer(llama2c(['<unk>', '<s>', '</s>', ' a'])), { format: 'llama2c' });
  assert.equal(sniffTokenizer(sentencePiece()), { format: 'sentencepiece' });
  for (const [what, buf] of [
    ['empty', Buffer.alloc(0)],
    ['a llama2.c tokenizer with one byte too many', Buffer.concat([llama2c(['<unk>', '<s>', '</s>']), Buffer.from([0])])],
    ['a llama2.c tokenizer cut inside a piece', llama2c(['<unk>', '<s>', '</s>', 'abcdef']).subarray(0, 44)],
    ['a piece longer than max_token_length', llama2c(['<unk>', '<s>', '</s>', 'abcdefghij'], 4)],
    ['text', Buffer.from('hello world\n')],
  ] as const) assert.is(sniffTokenizer(buf).format, null, what);
  let recognised = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const b = random(16 + ((seed * 97) % 5000), seed);
    if (b[0] === 0x7b) b[0] = 0; // a random '{' would be read (and refused) as JSON
    if (sniffTokenizer(b).format !== null) recognised++;
  }
  assert.is(recognised, 0, 'random bytes recognised as a tokenizer');
  const why = sniffTokenizer(random(6227, 2));
  assert.match(why.format === null ? why.reason : '', /^not JSON \(tokenizer\.json\), not a SentencePiece model \(protobuf\), not a llama2\.c tokenizer\.bin \(.+\)$/);
});

test('a named tokenizer is used as named: random bytes beside a good tok*.bin are refused, whatever the name', () => {
  const d = join(dir, 'stories');
  mkdirSync(d);
  writeFileSync(join(d, 'tok24.bin'), llama2c(['<unk>', '<s>', '</s>', ' a', 'b']));
  writeFileSync(join(d, 'model.bin'), random(1000, 3));
  for (const name of ['randtok.bin', 'tokenizer.bin', 'tokenizer.model', 'tokenizer.json']) {
    writeFileSync(join(d, name), random(6227, 4));
    assert.throws(() => openTokenizer(join(d, name)), new RegExp(`${name.replace('.', '\\.')}: unknown tokenizer format`));
    assert.throws(() => resolveTokenizer(join(d, 'model.bin'), join(d, name)), /unknown tokenizer format/);
    rmSync(join(d, name));
  }
  // a file named .model that holds a llama2.c tokenizer is read as one (the content decides)
  writeFileSync(join(d, 'odd.model'), llama2c(['<unk>', '<s>', '</s>', ' a']));
  assert.instance(openTokenizer(join(d, 'odd.model')), Llama2cTokenizer);
  writeFileSync(join(d, 'odd.bin'), sentencePiece());
  assert.instance(openTokenizer(join(d, 'odd.bin')), SentencePieceTokenizer);
  // the model's own tokenizer (no --tokenizer): still found beside the checkpoint
  assert.instance(resolveTokenizer(join(d, 'model.bin')), Llama2cTokenizer);
  assert.is(loadTokenizer(join(d, 'model.bin')).vocabSize, 5);
  // a file too large for a tokenizer is not read
  const big = join(d, 'huge.json');
  writeFileSync(big, '');
  truncateSync(big, MAX_TOKENIZER_BYTES + 1);
  assert.throws(() => openTokenizer(big), /too large for a tokenizer file .*: is it a model\?/);
});

const TOK512 = join(DATA_DIR, 'models/stories260K/tok512.bin');
const LLAMA = join(DATA_DIR, 'tokenizers/llama2');
if (existsSync(TOK512) && existsSync(LLAMA)) {
  test('the real tokenizers are recognised: tok512.bin and Llama 2 tokenizer.bin (llama2.c), tokenizer.model (SentencePiece)', () => {
    assert.equal(sniffTokenizer(readFileSync(TOK512)), { format: 'llama2c' });
    assert.equal(sniffTokenizer(readFileSync(join(LLAMA, 'tokenizer.bin'))), { format: 'llama2c' });
    assert.equal(sniffTokenizer(readFileSync(join(LLAMA, 'tokenizer.model'))), { format: 'sentencepiece' });
    assert.is(sniffTokenizer(readFileSync(join(DATA_DIR, 'models/stories260K/stories260K.bin'))).format, null, 'a model is not a tokenizer');
  });
} else {
  console.log(`(skipping the real-tokenizer format test: ${TOK512} or ${LLAMA} not found)`);
}

test.run();
