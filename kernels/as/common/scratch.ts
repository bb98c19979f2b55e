// Per-thread scratch on the heap. The AssemblyScript runtime is not thread-safe, so kernels that
// need room of their own take it from the backend instead: bindings/wasm/backend.ts allocates
// threads x SCRATCH_SLICE_BYTES (scratch_bytes(), exported by matmul.ts) once, 64-byte aligned,
// and passes the base pointer; thread tid uses [base + tid * SCRATCH_SLICE_BYTES, + SCRATCH_SLICE_BYTES).
// Kernels run one at a time, so every kernel may use the whole slice. Users: matmul's packed
// panels (which size it), attention's transposed keys for small head dims, lora_forward's
// transposed copy of B.
// matmul's PACK_SLICE_BYTES (its panels: 96 x 256 + 256 x 512 + 6 x 8 floats), a multiple of 64.
export const SCRATCH_SLICE_BYTES: usize = 622784;
