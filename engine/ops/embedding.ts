// Token embedding lookup and its backward, over Tensors: shape checks, then the backend op.
import { Tensor, expectDType, expectShape } from '../tensor.ts';

/** out[N, D] = table[ids[i], :], table [V, D], ids i32 [N]. Ids must lie in [0, V). */
export function embedding(out: Tensor, table: Tensor, ids: Tensor): void {
  expectDType('embedding ids', ids, 'i32');
  expectDType('embedding table', table, 'f32');
  expectDType('embedding out', out, 'f32');
  if (table.shape.length !== 2) throw new Error(`embedding: table must be [V, D], got [${table.shape.join(', ')}]`);
  const D = table.shape[1];
  expectShape('embedding ids', ids, [-1]);
  const N = ids.shape[0];
  expectShape('embedding out', out, [N, D]);
  table.backend.embedding(out.buf, table.buf, ids.buf, N, D);
}

/** dTable[ids[i], :] += dOut[i, :] (adds into dTable; ids outside [0, V) are skipped). */
export function embeddingBackward(dTable: Tensor, dOut: Tensor, ids: Tensor): void {
  expectDType('embeddingBackward ids', ids, 'i32');
  expectDType('embeddingBackward dTable', dTable, 'f32');
  expectDType('embeddingBackward dOut', dOut, 'f32');
  if (dTable.shape.length !== 2) throw new Error(`embeddingBackward: dTable must be [V, D], got [${dTable.shape.join(', ')}]`);
  const [V, D] = dTable.shape;
  expectShape('embeddingBackward ids', ids, [-1]);
  const N = ids.shape[0];
  expectShape('embeddingBackward dOut', dOut, [N, D]);
  dTable.backend.embeddingBackward(dTable.buf, dOut.buf, ids.buf, N, D, V);
}
