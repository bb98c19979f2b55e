// The tokenizer contract every implementation (llama2.c, SentencePiece, Hugging Face) meets.

/**
 * bos: prepend BOS where this tokenizer's own encoding does (SentencePiece and llama2.c: always;
 * Hugging Face: as Python's tokenizer(text) would, e.g. not for Qwen2). eos: append EOS.
 */
export interface EncodeOptions { bos?: boolean; eos?: boolean }

export interface Tokenizer {
  /** Token ids for `text`; BOS/EOS only when asked (and when the tokenizer has them: id >= 0). */
  encode(text: string, opts?: EncodeOptions): number[];
  /** Text for ids; control tokens (BOS/EOS/...) are dropped. decode(encode(t)) === t. */
  decode(ids: number[]): string;
  /**
   * Text of one token given the one before it, for streaming output (drops the dummy-prefix space
   * after BOS). A byte-fallback token that is part of a multi-byte character cannot be shown on its
   * own: decode the accumulated ids for exact text.
   */
  decodeToken?(prev: number, id: number): string;
  /** -1 when the tokenizer has no such token. */
  readonly bosId: number;
  readonly eosId: number;
  readonly vocabSize: number;
}
