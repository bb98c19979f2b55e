// f64 reference of matmul with the Backend's layouts: C = alpha * op(A) op(B) + beta * C0.
// transA: A stored [K, M]; transB: B stored [N, K].
export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, c0: ArrayLike<number> | null,
  M: number, N: number, K: number, transA: boolean, transB: boolean, alpha = 1, beta = 0): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        s += (transA ? a[k * M + i] : a[i * K + k]) * (transB ? b[j * K + k] : b[k * N + j]);
      }
      c[i * N + j] = alpha * s + (beta === 0 || !c0 ? 0 : beta * c0[i * N + j]);
    }
  }
  return c;
}
