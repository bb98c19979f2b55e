// Streaming text (engine/tokenizer/stream.ts): fed one token at a time, the pieces shown never
// hold half a character (no U+FFFD where the full text has none) and add up to decode(ids) of the
// whole sequence, on every tokenizer kind here: bytes (each byte a token), the fixture's
// tokenizer.json, and the real llama2.c / SentencePiece tokenizers where ../shared/data has them
// (their byte-fallback pieces split multi-byte characters across tokens).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteTokenizer } from '../../engine/tokenizer/bytes.ts';
import { openTokenizer } from '../../engine/tokenizer/load.ts';
import { TextStream } from '../../engine/tokenizer/stream.ts';
import type { Tokenizer } from '../../engine/tokenizer/tokenizer.ts';
import { DATA_DIR } from '../helpers.ts';

const TEXTS = ['Once upon a time, Zoë saw a ☃ and said "日本語!" 🙂🙂', '  two leading spaces\n\nand lines\tand tabs  ', 'é'];

function streamed(tok: Pick<Tokenizer, 'decode'>, ids: number[]): { pieces: string[]; text: string } {
  const s = new TextStream(tok);
  const pieces = ids.map((id) => s.push(id));
  pieces.push(s.flush());
  assert.is(pieces.join(''), s.text);
  return { pieces, text: s.text };
}

function check(label: string, tok: Tokenizer): void {
  for (const t of TEXTS) {
    const ids = tok.encode(t, { bos: true });
    const whole = tok.decode(ids);
    const { pieces, text } = streamed(tok, ids);
    assert.is(text, whole, `${label}: ${JSON.stringify(t)}`);
    if (!whole.includes('\ufffd')) assert.ok(pieces.every((p) => !p.includes('\ufffd')), `${label}: half a character shown: ${JSON.stringify(pieces)}`);
  }
}

test('bytes: a character of 2, 3 or 4 bytes shows once its last byte arrives', () => {
  const tok = new ByteTokenizer();
  const ids = tok.encode('aé☃🙂');
  assert.equal(streamed(tok, ids).pieces, ['a', '', 'é', '', '', '☃', '', '', '', '🙂', '']);
  check('bytes', tok);
  // an incomplete character at the end shows as U+FFFD once the sequence ends
  assert.equal(streamed(tok, [0x61, 0xe2, 0x98]).pieces, ['a', '', '', '\ufffd']);
});

test('tokenizer.json (the fixture)', () => {
  check('hf-tiny-tokenizer', openTokenizer(new URL('../fixtures/hf-tiny-tokenizer/tokenizer.json', import.meta.url).pathname));
});

for (const [label, path] of [
  ['llama2.c tok512.bin', join(DATA_DIR, 'models', 'stories260K', 'tok512.bin')],
  ['llama2.c tokenizer.bin (Llama 2)', join(DATA_DIR, 'tokenizers', 'llama2', 'tokenizer.bin')],
  ['SentencePiece tokenizer.model (Llama 2)', join(DATA_DIR, 'tokenizers', 'llama2', 'tokenizer.model')],
]) {
  if (!existsSync(path)) { console.warn(`stream: ${path} not found: ${label} not run`); continue; }
  test(label, () => {
    const tok = openTokenizer(path);
    check(label, tok);
    // byte fallback splits the snowman: some token on its own would be U+FFFD
    const ids = tok.encode('☃', { bos: false });
    if (ids.length > 1) assert.ok(ids.some((id) => tok.decode([id]).includes('\ufffd')), 'the test covers split characters');
  });
}

test.run();
