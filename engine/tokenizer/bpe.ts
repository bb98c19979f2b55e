// SentencePiece-style BPE shared by the llama2.c and SentencePiece tokenizers: start from one symbol
// per character, repeatedly merge the adjacent pair whose concatenation is a vocabulary piece with the
// highest score (ties: leftmost pair), then map leftover characters outside the vocabulary to their
// UTF-8 byte tokens. A heap keeps this O(n log n) instead of run.c's O(n^2) rescans; the merge order
// is the same.

export interface BpeVocab {
  /** pieces that may be produced by matching text: string -> id */
  pieceIds: Map<string, number>;
  scores: ArrayLike<number>;
  /** id of the token for byte b (byte fallback), or null when the vocabulary has none */
  byteIds: Int32Array | null;
  unkId: number;
}

interface Candidate { score: number; pos: number; left: number; right: number; leftVer: number; rightVer: number; id: number }

export function bpeEncode(text: string, v: BpeVocab): number[] {
  const sym: string[] = Array.from(text); // code points
  const n = sym.length;
  if (n === 0) return [];
  const prev = new Int32Array(n), next = new Int32Array(n), ver = new Int32Array(n);
  for (let i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }
  const alive = new Uint8Array(n).fill(1);

  const heap: Candidate[] = [];
  const better = (a: Candidate, b: Candidate) => a.score > b.score || (a.score === b.score && a.pos < b.pos);
  const push = (c: Candidate) => {
    heap.push(c);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!better(heap[i], heap[p])) break;
      [heap[i], heap[p]] = [heap[p], heap[i]]; i = p;
    }
  };
  const pop = (): Candidate => {
    const top = heap[0], last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < heap.length && better(heap[l], heap[m])) m = l;
        if (r < heap.length && better(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]]; i = m;
      }
    }
    return top;
  };
  const consider = (l: number, r: number) => {
    if (l < 0 || r < 0) return;
    const id = v.pieceIds.get(sym[l] + sym[r]);
    if (id !== undefined) push({ score: v.scores[id], pos: l, left: l, right: r, leftVer: ver[l], rightVer: ver[r], id });
  };

  for (let i = 0; i + 1 < n; i++) consider(i, i + 1);
  while (heap.length > 0) {
    const c = pop();
    // Stale: one side was merged away or changed since this pair was queued.
    if (!alive[c.left] || !alive[c.right] || ver[c.left] !== c.leftVer || ver[c.right] !== c.rightVer || next[c.left] !== c.right) continue;
    sym[c.left] += sym[c.right];
    ver[c.left]++;
    alive[c.right] = 0;
    next[c.left] = next[c.right];
    if (next[c.right] >= 0) prev[next[c.right]] = c.left;
    consider(prev[c.left], c.left);
    consider(c.left, next[c.left]);
  }

  const ids: number[] = [];
  const utf8 = new TextEncoder();
  for (let i = 0; i >= 0; i = next[i]) {
    const id = v.pieceIds.get(sym[i]);
    if (id !== undefined) { ids.push(id); continue; }
    if (v.byteIds) for (const b of utf8.encode(sym[i])) ids.push(v.byteIds[b]);
    else ids.push(v.unkId);
  }
  return ids;
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;
/** The byte a `<0xXX>` piece stands for, or -1. */
export function bytePieceValue(piece: string): number {
  const m = BYTE_PIECE.exec(piece);
  return m ? parseInt(m[1], 16) : -1;
}

/**
 * Text for a sequence of token pieces. `bytesOf(id)` gives each token's bytes (null for control
 * tokens, which are dropped). The first text token loses one leading space (the dummy prefix).
 */
export function decodePieces(ids: number[], bytesOf: (id: number) => Uint8Array | null, stripFirstSpace: boolean): string {
  const parts: Uint8Array[] = [];
  let first = true;
  for (const id of ids) {
    let b = bytesOf(id);
    if (b === null) continue;
    if (first && stripFirstSpace && b.length > 0 && b[0] === 0x20) b = b.subarray(1);
    first = false;
    parts.push(b);
  }
  const all = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of parts) { all.set(b, at); at += b.length; }
  return new TextDecoder().decode(all);
}
