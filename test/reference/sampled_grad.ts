// Central finite differences at a few chosen coordinates only: the gradient check for shapes
// too big to difference every input (the multi-threaded cases).
export function finiteDiffAt(f: (x: Float64Array) => number, x: Float64Array, idx: readonly number[], h = 1e-6): Float64Array {
  const g = new Float64Array(idx.length);
  idx.forEach((i, n) => {
    const xi = x[i];
    const step = h * Math.max(1, Math.abs(xi));
    x[i] = xi + step; const fp = f(x);
    x[i] = xi - step; const fm = f(x);
    x[i] = xi;
    g[n] = (fp - fm) / (2 * step);
  });
  return g;
}

/** `count` distinct-ish coordinates spread over [0, n), including both ends. */
export function spreadIndices(n: number, count: number): number[] {
  const out = new Set<number>([0, n - 1]);
  for (let k = 1; out.size < Math.min(n, count); k++) out.add(Math.floor((k * 0.6180339887498949 % 1) * n));
  return [...out];
}

export function pick(a: ArrayLike<number>, idx: readonly number[]): Float64Array {
  return Float64Array.from(idx, (i) => a[i]);
}
