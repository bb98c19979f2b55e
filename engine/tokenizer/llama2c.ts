// llama2.c tokenizer.bin: int32 max_token_length, then per token: f32 score, int32 byte length, bytes.
// Pieces store spaces as ' ' (the exporter replaced SentencePiece's '▁'). Encoding follows run.c:
// a dummy-prefix space, then score-ordered BPE merges with <0xXX> byte fallback.
import { existsSync, readFileSync } from 'node:fs';
import { baseName as basename } from '../io/source.ts';
import { bpeEncode, bytePieceValue, decodePieces, type BpeVocab } from './bpe.ts';
import type { EncodeOptions, Tokenizer } from './tokenizer.ts';

export class Llama2cTokenizer implements Tokenizer {
  readonly bosId = 1;
  readonly eosId = 2;
  readonly vocabSize: number;
  readonly pieces: Uint8Array[];
  readonly scores: Float32Array;
  private readonly vocab: BpeVocab;

  private constructor(pieces: Uint8Array[], scores: Float32Array) {
    this.pieces = pieces;
    this.scores = scores;
    this.vocabSize = pieces.length;
    const pieceIds = new Map<string, number>();
    const byteIds = new Int32Array(256).fill(-1);
    const dec = new TextDecoder();
    pieces.forEach((p, id) => {
      const s = dec.decode(p);
      const b = bytePieceValue(s);
      if (b >= 0) { byteIds[b] = id; return; }
      // <unk>, BOS and EOS are never produced from text (SentencePiece treats them as control tokens).
      if (id <= 2) return;
      if (!pieceIds.has(s)) pieceIds.set(s, id);
    });
    const complete = byteIds.every((x) => x >= 0);
    this.vocab = { pieceIds, scores, byteIds: complete ? byteIds : null, unkId: 0 };
  }

  static fromFile(path: string): Llama2cTokenizer {
    if (!existsSync(path)) throw new Error(`tokenizer not found: ${path}`);
    return Llama2cTokenizer.fromBytes(readFileSync(path), path);
  }

  static fromBytes(buf: Uint8Array, path = 'tokenizer.bin'): Llama2cTokenizer {
    const file = basename(path);
    if (buf.length < 4) throw new Error(`${file}: too short for a llama2.c tokenizer (${buf.length} bytes) (${path})`);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const maxLen = dv.getInt32(0, true);
    if (maxLen <= 0) throw new Error(`${file}: invalid max_token_length ${maxLen} (${path})`);
    const pieces: Uint8Array[] = [];
    const scores: number[] = [];
    let o = 4;
    while (o < buf.length) {
      if (o + 8 > buf.length) throw new Error(`${file}: truncated at token ${pieces.length} (byte ${o}) (${path})`);
      const score = dv.getFloat32(o, true);
      const len = dv.getInt32(o + 4, true);
      o += 8;
      if (len < 0 || len > maxLen || o + len > buf.length) {
        throw new Error(`${file}: token ${pieces.length} has length ${len} (max_token_length ${maxLen}, ${buf.length - o} bytes left) (${path})`);
      }
      pieces.push(Uint8Array.from(buf.subarray(o, o + len)));
      scores.push(score);
      o += len;
    }
    if (pieces.length < 3) throw new Error(`${file}: only ${pieces.length} tokens (${path})`);
    return new Llama2cTokenizer(pieces, Float32Array.from(scores));
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    if (opts.bos) ids.push(this.bosId);
    // run.c adds the dummy prefix only to non-empty text.
    if (text.length > 0) ids.push(...bpeEncode(' ' + text, this.vocab));
    if (opts.eos) ids.push(this.eosId);
    return ids;
  }

  decode(ids: number[]): string {
    return decodePieces(ids, (id) => this.bytesOf(id), true);
  }

  decodeToken(prev: number, id: number): string {
    const b = this.bytesOf(id);
    if (b === null) return '';
    const s = new TextDecoder().decode(b);
    return prev === this.bosId && s.startsWith(' ') ? s.slice(1) : s;
  }

  private bytesOf(id: number): Uint8Array | null {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new Error(`token id ${id} is outside the vocabulary (${this.vocabSize})`);
    if (id <= 2) return null;
    const p = this.pieces[id];
    const b = p.length === 6 ? bytePieceValue(String.fromCharCode(...p)) : -1;
    return b >= 0 ? Uint8Array.of(b) : p;
  }
}
