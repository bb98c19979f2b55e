// How a kernel splits n units of work over nthreads: thread tid takes [start, end).
// Chunks are contiguous and differ in size by at most one unit.
@inline export function chunkStart(n: i32, tid: i32, nthreads: i32): i32 {
  return i32((i64(n) * i64(tid)) / i64(nthreads));
}
@inline export function chunkEnd(n: i32, tid: i32, nthreads: i32): i32 {
  return i32((i64(n) * i64(tid + 1)) / i64(nthreads));
}
