// Opens tokenizers. A tokenizer file's format is recognised by its content, never by its name:
//   Hugging Face tokenizer.json  a JSON object (first non-blank byte '{')
//   llama2.c tokenizer.bin       int32 max_token_length, then records (f32 score, int32 length,
//                                bytes) that end exactly at the end of the file
//   SentencePiece .model         a protobuf ModelProto: its first field is a piece (field 1, bytes)
// A file that is none of them is refused. openTokenizer opens the tokenizer a user named;
// loadTokenizer finds the tokenizer of a model (in its directory, or beside a llama2.c checkpoint).
// Both take paths (Node); openTokenizerSource and tokenizerIn take the files themselves (the web
// page's dropped files).
import { existsSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { dirFileSet, fileSource } from '../io/node_files.ts';
import { readAll, type ByteSource, type FileSet } from '../io/source.ts';
import { HFTokenizer } from './hf.ts';
import { Llama2cTokenizer } from './llama2c.ts';
import { SentencePieceTokenizer } from './sentencepiece.ts';
import type { Tokenizer } from './tokenizer.ts';

export type TokenizerFormat = 'tokenizer.json' | 'sentencepiece' | 'llama2c';

/** Larger files are not tokenizers (the Llama 2 tokenizers are 0.5 MB, large tokenizer.json files ~20 MB). */
export const MAX_TOKENIZER_BYTES = 256 << 20;
const DIR_NAMES = ['tokenizer.json', 'tokenizer.model', 'tokenizer.bin'];

/** Why a buffer is not a llama2.c tokenizer, or null when it is one. */
function notLlama2c(buf: Uint8Array): string | null {
  if (buf.length < 4) return `${buf.length} bytes, too short`;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const maxLen = dv.getInt32(0, true);
  if (maxLen <= 0 || maxLen > 65536) return `max_token_length ${maxLen} is not in 1..65536`;
  let o = 4, n = 0;
  while (o < buf.length) {
    if (o + 8 > buf.length) return `truncated at token ${n} (byte ${o})`;
    const score = dv.getFloat32(o, true), len = dv.getInt32(o + 4, true);
    if (!Number.isFinite(score)) return `token ${n} has a non-finite score`;
    if (len < 0 || len > maxLen || o + 8 + len > buf.length) return `token ${n} has length ${len} (max_token_length ${maxLen}, ${buf.length - o - 8} bytes left)`;
    o += 8 + len;
    n++;
  }
  return n < 3 ? `only ${n} tokens` : null;
}

/** Whether a buffer starts as a SentencePiece ModelProto: field 1 (a piece, length-delimited) that fits, holding field 1 (its text). */
function looksSentencePiece(buf: Uint8Array): boolean {
  if (buf.length < 3 || buf[0] !== 0x0a) return false;
  let len = 0, mul = 1, o = 1;
  for (; o < Math.min(buf.length, 6); o++) {
    len += (buf[o] & 0x7f) * mul;
    mul *= 128;
    if (!(buf[o] & 0x80)) break;
  }
  return o < buf.length && o + 1 + len <= buf.length && len > 0 && buf[o + 1] === 0x0a;
}

/** The format of a tokenizer file's bytes, or `reason`: why it is none of the three. */
export function sniffTokenizer(buf: Uint8Array): { format: TokenizerFormat } | { format: null; reason: string } {
  let i = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0; // a UTF-8 byte order mark
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
  if (buf[i] === 0x7b) return { format: 'tokenizer.json' };
  const l2c = notLlama2c(buf);
  if (l2c === null) return { format: 'llama2c' };
  if (looksSentencePiece(buf)) return { format: 'sentencepiece' };
  return { format: null, reason: `not JSON (tokenizer.json), not a SentencePiece model (protobuf), not a llama2.c tokenizer.bin (${l2c})` };
}

function readTokenizerBytes(src: ByteSource): Uint8Array {
  if (src.size > MAX_TOKENIZER_BYTES) throw new Error(`${src.path}: ${src.size} bytes is too large for a tokenizer file (at most ${MAX_TOKENIZER_BYTES}): is it a model?`);
  return readAll(src);
}

/** A tokenizer file, by its content; a file of no known format is refused. */
export function openTokenizerFile(path: string): Tokenizer {
  if (!existsSync(path)) throw new Error(`tokenizer not found: ${path}`);
  return openTokenizerSource(fileSource(path), dirFileSet(dirname(path)));
}

/**
 * A tokenizer from its file, by content; a file of no known format is refused. `beside` holds the
 * files next to it (a tokenizer.json reads tokenizer_config.json and config.json there).
 */
export function openTokenizerSource(src: ByteSource, beside: FileSet | null): Tokenizer {
  const buf = readTokenizerBytes(src);
  const s = sniffTokenizer(buf);
  switch (s.format) {
    case 'tokenizer.json': return HFTokenizer.fromSource(src, beside);
    case 'llama2c': return Llama2cTokenizer.fromBytes(buf, src.path);
    case 'sentencepiece': return SentencePieceTokenizer.fromBytes(buf, src.path);
    default: throw new Error(`${src.name}: unknown tokenizer format: ${s.reason} (${src.path})`);
  }
}

/** The tokenizer of a model folder: its tokenizer.json, else tokenizer.model, else tokenizer.bin. */
export function tokenizerIn(files: FileSet): Tokenizer {
  for (const name of DIR_NAMES) {
    if (files.has(name)) return openTokenizerSource(files.open(name), files);
  }
  throw new Error(`no tokenizer in ${files.path} (looked for ${DIR_NAMES.join(', ')})`);
}

function inDirectory(dir: string): Tokenizer {
  return tokenizerIn(dirFileSet(dir));
}

/** The tokenizer a user named: a tokenizer file (by content; nothing else is looked for), or a directory holding tokenizer.json, .model or .bin. */
export function openTokenizer(path: string): Tokenizer {
  if (!existsSync(path)) throw new Error(`tokenizer not found: ${path}`);
  return statSync(path).isDirectory() ? inDirectory(path) : openTokenizerFile(path);
}

/** Whether a file is a tokenizer, by its content and size (without reading a large file whole). */
export function isTokenizerSource(src: ByteSource): boolean {
  return src.size <= MAX_TOKENIZER_BYTES && sniffTokenizer(readAll(src)).format !== null;
}

/**
 * The tokenizer for a model or tokenizer path: a directory -> its tokenizer.json, else
 * tokenizer.model, else tokenizer.bin; a tokenizer file -> that file; a .bin that is not one and whose
 * name does not start with "tok" (a llama2.c checkpoint) -> tokenizer.bin or the one tok*.bin beside it. (A tokenizer a user names
 * is opened with openTokenizer, which never looks beside it.)
 */
export function loadTokenizer(path: string): Tokenizer {
  if (!existsSync(path)) throw new Error(`tokenizer not found: ${path}`);
  if (statSync(path).isDirectory()) return inDirectory(path);
  const name = basename(path);
  if (!name.endsWith('.bin') || name.startsWith('tok') || isTokenizerSource(fileSource(path))) return openTokenizerFile(path);
  // a .bin that is not a tokenizer: a llama2.c checkpoint, whose tokenizer lies beside it
  return tokenizerBeside(dirFileSet(dirname(path)), name);
}

/**
 * The tokenizer beside llama2.c checkpoint `checkpoint` of `files`: tokenizer.bin, else the one
 * tok*.bin.
 */
export function tokenizerBeside(files: FileSet, checkpoint: string): Tokenizer {
  if (files.has('tokenizer.bin')) return openTokenizerSource(files.open('tokenizer.bin'), files);
  const toks = files.names().filter((f) => f.startsWith('tok') && f.endsWith('.bin'));
  if (toks.length === 1) return openTokenizerSource(files.open(toks[0]), files);
  const path = files.pathOf(checkpoint);
  if (toks.length > 1) throw new Error(`several llama2.c tokenizers beside ${path} (${toks.join(', ')}): name one explicitly`);
  throw new Error(`${checkpoint} is not a tokenizer, and no llama2.c tokenizer (tokenizer.bin or tok*.bin) is beside it (${path})`);
}
