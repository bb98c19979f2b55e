// f64 reference of bias-add: y[i, :] + b for y [rows, D].
export function biasAddRef(y: ArrayLike<number>, b: ArrayLike<number>, D: number): Float64Array {
  return Float64Array.from(y, (v, i) => v + b[i % D]);
}
