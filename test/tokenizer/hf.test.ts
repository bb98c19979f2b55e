// Hugging Face tokenizer.json through @huggingface/tokenizers, on a hand-built fixture whose
// expected ids were worked out by hand from its merge list (see test/fixtures/hf-tiny-tokenizer).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HFTokenizer } from '../../engine/tokenizer/hf.ts';
import { loadTokenizer } from '../../engine/tokenizer/load.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/hf-tiny-tokenizer', import.meta.url));

test('tiny tokenizer.json: ids from the merges, BOS/EOS from tokenizer_config.json', () => {
  const tok = loadTokenizer(FIXTURE);
  assert.ok(tok instanceof HFTokenizer);
  assert.is(tok.bosId, 1);
  assert.is(tok.eosId, 2);
  assert.is(tok.vocabSize, 24);
  // "▁hello▁world": ten merges in rank order end in ▁hello (18) ▁world (23)
  assert.equal(tok.encode('hello world'), [18, 23]); // no BOS unless asked (the post-processor is bypassed)
  assert.equal(tok.encode('hello world', { bos: true, eos: true }), [1, 18, 23, 2]);
  // "\n" and "é" are not pieces: byte fallback to <0x0A> (3) and <0xC3><0xA9> (4, 5)
  assert.equal(tok.encode('hello\nwé'), [18, 3, 11, 4, 5]);
  // "▁low": only "l o" applies -> ▁ (6) lo (17) w (11)
  assert.equal(tok.encode('low'), [6, 17, 11]);
  assert.equal(tok.encode('hello  world'), [18, 6, 23]);
});

test('tiny tokenizer.json: decode round trips and drops special tokens', () => {
  const tok = loadTokenizer(FIXTURE);
  for (const s of ['hello world', 'hello\nwé', 'low', 'hello  world']) {
    assert.is(tok.decode(tok.encode(s, { bos: true, eos: true })), s);
  }
  assert.is(tok.decodeToken!(1, 18), 'hello');
  assert.is(tok.decodeToken!(18, 23), ' world');
});

test('missing tokenizer.json is a clear error', () => {
  try { loadTokenizer(`${FIXTURE}/nope.json`); } catch (e) {
    assert.ok((e as Error).message.includes(`tokenizer not found: ${FIXTURE}/nope.json`));
    return;
  }
  assert.unreachable();
});

test('{bos: true} follows the tokenizer: no BOS where its post-processor adds none (Qwen2/GPT-2 style)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-nobos-'));
  const json = JSON.parse(readFileSync(join(FIXTURE, 'tokenizer.json'), 'utf8'));
  json.post_processor = null;
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  writeFileSync(join(dir, 'tokenizer_config.json'), readFileSync(join(FIXTURE, 'tokenizer_config.json')));
  const tok = HFTokenizer.fromFile(join(dir, 'tokenizer.json'));
  assert.is(tok.bosId, 1);
  assert.is(tok.addsBos, false);
  assert.equal(tok.encode('hello world', { bos: true, eos: true }), [18, 23, 2]);
  const llamaStyle = HFTokenizer.fromFile(join(FIXTURE, 'tokenizer.json'));
  assert.is(llamaStyle.addsBos, true);
  rmSync(dir, { recursive: true });
});

test.run();
