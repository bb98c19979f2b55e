// a * b + c on f32x4 lanes. The kernels are built twice (build.mjs): with --use FMA=1 this is
// relaxed_madd, a fused multiply-add where the CPU has one (Node 20 needs V8's relaxed-SIMD
// flag for it, which bindings/wasm/loader.ts turns on); with FMA=0 it is a plain mul + add,
// for engines without relaxed SIMD. Fused or not, results differ only in the last bit.
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (FMA) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}
