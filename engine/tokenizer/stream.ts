// Text of a growing sequence of generated tokens, piece by piece, for streaming output. A token
// cannot always be shown on its own: a byte-fallback token may be one byte of a multi-byte
// character (its text is U+FFFD until the rest arrives), and SentencePiece drops a leading space
// only at the start of a sequence. So each new token's text is the decoded whole sequence minus
// what was already shown, and a trailing U+FFFD is held back until the character completes (or the
// sequence ends). The pieces shown add up to tokenizer.decode(ids) for a decoder whose text of a
// sequence starts with the text of its prefix (every tokenizer here: test/tokenizer/stream.test.ts).
//
// Decoding the whole sequence per token costs O(n^2) in its length: for 2048 tokens about
// 2 million piece lookups in all, small next to a model's forward per token.
import type { Tokenizer } from './tokenizer.ts';

export class TextStream {
  private readonly ids: number[] = [];
  private shown = '';

  constructor(private readonly tokenizer: Pick<Tokenizer, 'decode'>) {}

  /** The text `id` adds to what was shown ('' while a character is incomplete). */
  push(id: number): string {
    this.ids.push(id);
    let text = this.tokenizer.decode(this.ids);
    let end = text.length;
    while (end > 0 && text.charCodeAt(end - 1) === 0xfffd) end--;
    text = text.slice(0, end);
    return this.advance(text);
  }

  /** What is still held back (the sequence has ended: an incomplete character shows as U+FFFD). */
  flush(): string {
    return this.ids.length === 0 ? '' : this.advance(this.tokenizer.decode(this.ids));
  }

  /** Everything shown so far. */
  get text(): string { return this.shown; }

  private advance(text: string): string {
    if (text.length <= this.shown.length) return '';
    // (a decoder whose text were not prefix-stable would rewrite what was shown: only the new end is shown)
    const piece = text.slice(this.shown.length);
    this.shown += piece;
    return piece;
  }
}
