// Finds and opens the tokenizer for a tokenizer file, a model directory or a llama2.c checkpoint.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HFTokenizer } from './hf.ts';
import { Llama2cTokenizer } from './llama2c.ts';
import { SentencePieceTokenizer } from './sentencepiece.ts';
import type { Tokenizer } from './tokenizer.ts';

/**
 * A tokenizer file by extension (.bin llama2.c, .model SentencePiece, .json Hugging Face); a model
 * directory -> its tokenizer.json, else tokenizer.model; a llama2.c checkpoint (.bin whose name does
 * not start with "tok") -> tokenizer.bin or tok*.bin beside it.
 */
export function loadTokenizer(path: string): Tokenizer {
  if (!existsSync(path)) throw new Error(`tokenizer not found: ${path}`);
  if (statSync(path).isDirectory()) {
    for (const name of ['tokenizer.json', 'tokenizer.model', 'tokenizer.bin']) {
      const p = join(path, name);
      if (existsSync(p)) return loadTokenizerFile(p);
    }
    throw new Error(`no tokenizer in ${path} (looked for tokenizer.json, tokenizer.model, tokenizer.bin)`);
  }
  const name = basename(path);
  if (name.endsWith('.bin') && !name.startsWith('tok')) {
    const dir = dirname(path);
    if (existsSync(join(dir, 'tokenizer.bin'))) return loadTokenizerFile(join(dir, 'tokenizer.bin'));
    const toks = readdirSync(dir).filter((f) => f.startsWith('tok') && f.endsWith('.bin')).sort();
    if (toks.length === 1) return loadTokenizerFile(join(dir, toks[0]));
    if (toks.length > 1) throw new Error(`several llama2.c tokenizers beside ${path} (${toks.join(', ')}): name one explicitly`);
    throw new Error(`no llama2.c tokenizer (tokenizer.bin or tok*.bin) beside ${path}`);
  }
  return loadTokenizerFile(path);
}

function loadTokenizerFile(path: string): Tokenizer {
  if (path.endsWith('.bin')) return Llama2cTokenizer.fromFile(path);
  if (path.endsWith('.model')) return SentencePieceTokenizer.fromFile(path);
  if (path.endsWith('.json')) return HFTokenizer.fromFile(path);
  throw new Error(`unknown tokenizer format: ${path} (expected .bin (llama2.c), .model (SentencePiece) or .json (Hugging Face))`);
}
