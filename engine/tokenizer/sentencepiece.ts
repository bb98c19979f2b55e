// SentencePiece tokenizer.model (a serialized ModelProto), BPE models only. Parsed with a small
// protobuf reader; encoding is the same score-ordered BPE as llama2.c's, on text whose spaces are
// replaced by '▁' (U+2581) and, per normalizer_spec, prefixed with one '▁'.
import { existsSync, readFileSync } from 'node:fs';
import { baseName as basename } from '../io/source.ts';
import { bpeEncode, bytePieceValue, decodePieces, type BpeVocab } from './bpe.ts';
import { ProtoReader } from './protobuf.ts';
import type { EncodeOptions, Tokenizer } from './tokenizer.ts';

// sentencepiece_model.proto: SentencePiece.Type
export const PieceType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;
const MODEL_TYPE_BPE = 2;
const SPACE = '\u2581';

export interface SentencePieceModel {
  pieces: Array<{ piece: string; score: number; type: number }>;
  modelType: number; byteFallback: boolean;
  unkId: number; bosId: number; eosId: number;
  normalizerName: string; addDummyPrefix: boolean; removeExtraWhitespaces: boolean; escapeWhitespaces: boolean;
}

/** Decodes the fields of ModelProto the tokenizer needs (proto2 defaults where absent). */
export function parseSentencePieceModel(buf: Uint8Array, path: string): SentencePieceModel {
  const what = basename(path);
  const m: SentencePieceModel = {
    pieces: [], modelType: 1, byteFallback: false, unkId: 0, bosId: 1, eosId: 2,
    normalizerName: '', addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true,
  };
  const dec = new TextDecoder('utf-8', { fatal: true });
  const top = new ProtoReader(buf, what);
  while (!top.done) {
    const { field, wire } = top.tag();
    if (field === 1 && wire === 2) {
      const r = new ProtoReader(top.bytes(), `${what} piece ${m.pieces.length}`);
      const p = { piece: '', score: 0, type: PieceType.NORMAL as number };
      while (!r.done) {
        const t = r.tag();
        if (t.field === 1 && t.wire === 2) p.piece = dec.decode(r.bytes());
        else if (t.field === 2 && t.wire === 5) p.score = r.float();
        else if (t.field === 3 && t.wire === 0) p.type = r.varint();
        else r.skip(t.wire);
      }
      m.pieces.push(p);
    } else if (field === 2 && wire === 2) {
      const r = new ProtoReader(top.bytes(), `${what} trainer_spec`);
      while (!r.done) {
        const t = r.tag();
        if (t.wire !== 0) { r.skip(t.wire); continue; }
        if (t.field === 3) m.modelType = r.varint();
        else if (t.field === 35) m.byteFallback = r.varint() !== 0;
        else if (t.field === 40) m.unkId = r.int32();
        else if (t.field === 41) m.bosId = r.int32();
        else if (t.field === 42) m.eosId = r.int32();
        else r.skip(t.wire);
      }
    } else if (field === 3 && wire === 2) {
      const r = new ProtoReader(top.bytes(), `${what} normalizer_spec`);
      while (!r.done) {
        const t = r.tag();
        if (t.field === 1 && t.wire === 2) m.normalizerName = dec.decode(r.bytes());
        else if (t.field === 3 && t.wire === 0) m.addDummyPrefix = r.varint() !== 0;
        else if (t.field === 4 && t.wire === 0) m.removeExtraWhitespaces = r.varint() !== 0;
        else if (t.field === 5 && t.wire === 0) m.escapeWhitespaces = r.varint() !== 0;
        else r.skip(t.wire);
      }
    } else {
      top.skip(wire);
    }
  }
  if (m.pieces.length === 0) throw new Error(`${what}: no pieces: not a SentencePiece model (${path})`);
  return m;
}

export class SentencePieceTokenizer implements Tokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly vocabSize: number;
  readonly model: SentencePieceModel;
  private readonly vocab: BpeVocab;
  private readonly pieceBytes: Array<Uint8Array | null>;
  /** user-defined pieces, longest first: SentencePiece matches them whole, before BPE */
  private readonly userDefined: Array<[string, number]>;

  constructor(model: SentencePieceModel, path: string) {
    const what = basename(path);
    if (model.modelType !== MODEL_TYPE_BPE) {
      throw new Error(`${what}: SentencePiece model_type ${model.modelType} is not supported (only BPE = 2) (${path})`);
    }
    this.model = model;
    this.vocabSize = model.pieces.length;
    this.bosId = model.bosId;
    this.eosId = model.eosId;
    const pieceIds = new Map<string, number>();
    const byteIds = new Int32Array(256).fill(-1);
    const enc = new TextEncoder();
    this.pieceBytes = model.pieces.map((p, id) => {
      if (p.type === PieceType.BYTE) {
        const b = bytePieceValue(p.piece);
        if (b < 0) throw new Error(`${what}: byte piece ${id} is '${p.piece}', not <0xXX> (${path})`);
        byteIds[b] = id;
        return Uint8Array.of(b);
      }
      if (p.type === PieceType.NORMAL) {
        if (!pieceIds.has(p.piece)) pieceIds.set(p.piece, id);
        return enc.encode(p.piece.replaceAll(SPACE, ' '));
      }
      if (p.type === PieceType.USER_DEFINED) return enc.encode(p.piece.replaceAll(SPACE, ' '));
      // SentencePiece shows an unknown token as " ⁇ "; control and unused pieces have no text.
      if (p.type === PieceType.UNKNOWN) return enc.encode(' \u2047 ');
      return null;
    });
    this.userDefined = model.pieces.flatMap((p, id): Array<[string, number]> => (p.type === PieceType.USER_DEFINED && p.piece.length > 0 ? [[p.piece, id]] : []))
      .sort((a, b) => b[0].length - a[0].length);
    const hasBytes = model.byteFallback && byteIds.every((x) => x >= 0);
    this.vocab = { pieceIds, scores: model.pieces.map((p) => p.score), byteIds: hasBytes ? byteIds : null, unkId: model.unkId };
  }

  static fromFile(path: string): SentencePieceTokenizer {
    if (!existsSync(path)) throw new Error(`tokenizer not found: ${path}`);
    return SentencePieceTokenizer.fromBytes(readFileSync(path), path);
  }

  /** From a ModelProto's bytes; `path` names the file in errors. */
  static fromBytes(buf: Uint8Array, path = 'tokenizer.model'): SentencePieceTokenizer {
    return new SentencePieceTokenizer(parseSentencePieceModel(buf, path), path);
  }

  /** The normalizer_spec steps this engine implements (identity normalization, whitespace handling). */
  normalize(text: string): string {
    let t = text;
    if (/nfkc/i.test(this.model.normalizerName)) t = t.normalize('NFKC');
    if (this.model.removeExtraWhitespaces) t = t.replace(/ +/g, ' ').replace(/^ | $/g, '');
    if (t.length === 0) return t;
    if (this.model.addDummyPrefix) t = ' ' + t;
    return this.model.escapeWhitespaces ? t.replaceAll(' ', SPACE) : t;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    if (opts.bos && this.bosId >= 0) ids.push(this.bosId);
    const normalized = this.normalize(text);
    if (this.userDefined.length === 0) ids.push(...bpeEncode(normalized, this.vocab));
    else this.encodeWithUserDefined(normalized, ids);
    if (opts.eos && this.eosId >= 0) ids.push(this.eosId);
    return ids;
  }

  /** Cuts the text at user-defined pieces (longest match, left to right) and runs BPE between them. */
  private encodeWithUserDefined(text: string, ids: number[]): void {
    let start = 0, i = 0;
    while (i < text.length) {
      const hit = this.userDefined.find(([piece]) => text.startsWith(piece, i));
      if (!hit) { i++; continue; }
      ids.push(...bpeEncode(text.slice(start, i), this.vocab), hit[1]);
      i += hit[0].length;
      start = i;
    }
    ids.push(...bpeEncode(text.slice(start), this.vocab));
  }

  decode(ids: number[]): string {
    return decodePieces(ids, (id) => this.bytesOf(id), this.model.addDummyPrefix);
  }

  decodeToken(prev: number, id: number): string {
    const b = this.bytesOf(id);
    if (b === null) return '';
    const s = new TextDecoder().decode(b);
    return prev === this.bosId && this.model.addDummyPrefix && s.startsWith(' ') ? s.slice(1) : s;
  }

  private bytesOf(id: number): Uint8Array | null {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new Error(`token id ${id} is outside the vocabulary (${this.vocabSize})`);
    return this.pieceBytes[id];
  }
}
