// How a kernel splits n units of work over nthreads: thread tid takes [start, end).
// Chunks are contiguous and differ in size by at most one unit.
@inline export function chunkStart(n: i32, tid: i32, nthreads: i32): i32 {
  return i32((i64(n) * i64(tid)) / i64(nthreads));
}
@inline export function chunkEnd(n: i32, tid: i32, nthreads: i32): i32 {
  return i32((i64(n) * i64(tid + 1)) / i64(nthreads));
}

// The same split in whole v128 groups of 4 elements (the last group may be short), for
// elementwise kernels with a vector body and a scalar tail: only the last n % 4 elements take
// the scalar path, whatever the thread count, so an element's arithmetic (e.g. exp4 against
// Mathf.exp) never depends on where a thread's chunk begins.
@inline export function chunkStart4(n: i32, tid: i32, nthreads: i32): i32 {
  return min(n, chunkStart((n + 3) >> 2, tid, nthreads) << 2);
}
@inline export function chunkEnd4(n: i32, tid: i32, nthreads: i32): i32 {
  return min(n, chunkEnd((n + 3) >> 2, tid, nthreads) << 2);
}
