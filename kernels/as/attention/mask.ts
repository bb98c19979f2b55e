// Which keys and query rows of a batch row take part (kernels/as/attention.ts states the rules).

/** Keys visible to query i of batch b: j < visibleKeys. */
@inline export function visibleKeys(keyLen: usize, b: i32, i: i32, Tk: i32, qPos0: i32): i32 {
  const kl = min(load<i32>(keyLen + (<usize>b << 2)), Tk);
  return max(0, min(qPos0 + i + 1, kl));
}

/** Query rows of batch b that are not padding (skipPad), i < queryEnd; all Tq rows otherwise. */
@inline export function queryEnd(keyLen: usize, b: i32, Tq: i32, Tk: i32, qPos0: i32, skipPad: i32): i32 {
  if (!skipPad) return Tq;
  return max(0, min(Tq, min(load<i32>(keyLen + (<usize>b << 2)), Tk) - qPos0));
}
