// f64 reference of the embedding lookup.
export function embeddingRef(table: ArrayLike<number>, ids: ArrayLike<number>, D: number): Float64Array {
  const out = new Float64Array(ids.length * D);
  for (let i = 0; i < ids.length; i++) for (let c = 0; c < D; c++) out[i * D + c] = table[ids[i] * D + c];
  return out;
}
