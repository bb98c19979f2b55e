// The Backend interface: the one small surface that every compute backend implements
// (bindings/wasm today, bindings/webgpu beside it). Everything above it (engine/ops, the model,
// Vaccine) is written once against this interface.
//
// Conventions, shared by every op:
// - Tensors are whole buffers (no views, no offsets) laid out row-major. Compute is f32;
//   index tensors (token ids, labels, lengths) are i32.
// - Ops are enqueued in program order. The WASM backend runs them at once; the WebGPU backend
//   records them and submits on `read`/`sync`. Only `read` and `sync` are asynchronous.
// - Backends check nothing about shapes: engine/ops/<op>.ts does, then calls the backend. The
//   model, LoRA, Vaccine and the optimizers go through engine/ops (Tensor.view reshapes without
//   copying), never straight to these op methods.
// - "writes" means the output is overwritten; "adds into" means it accumulates (+=).
// - Every op here has its forward and backward beside each other in kernels/as/<op>.ts and
//   kernels/wgsl/<op>.wgsl, under the same names.

/** f16 only for frozen weights on backends with f16 storage (see allocF16). */
export type DType = 'f32' | 'i32' | 'f16';

/** A backend's opaque buffer handle (a pointer in WASM memory, a GPUBuffer on WebGPU). */
export interface BufferHandle {
  readonly bytes: number;
}

export interface MatmulParams {
  M: number; N: number; K: number;
  /** A is stored [K, M] and used transposed. Otherwise A is [M, K]. */
  transA: boolean;
  /** B is stored [N, K] (nn.Linear weight layout) and used transposed. Otherwise B is [K, N]. */
  transB: boolean;
  /** C = alpha * op(A) op(B) + beta * C. */
  alpha: number;
  beta: number;
}

export interface LoraDims {
  /** rows (tokens) */
  T: number;
  inF: number;
  outF: number;
  r: number;
  /** alpha / r */
  scale: number;
}

export interface AttentionDims {
  B: number;
  /** query rows per batch element */
  Tq: number;
  /** key/value rows per batch element (the row stride of k and v; a KV cache's capacity) */
  Tk: number;
  Hq: number;
  Hkv: number;
  hd: number;
  /** position of query row 0; query i sits at position qPos0 + i */
  qPos0: number;
  /** softmax scale, usually 1/sqrt(hd) */
  scale: number;
  /**
   * Query rows at or past their sequence's keys (qPos0 + i >= keyLen[b]) are padding: they get
   * out = 0 and lse = -inf, and add nothing to dk and dv (a forward that computes only what
   * reaches the loss). Otherwise (default) they attend every key below keyLen[b].
   */
  skipPadQueries?: boolean;
}

/** AdamW's constants, as torch.optim.AdamW names them (betas, eps, weight_decay). */
export interface AdamWHyperparameters {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface AdamWParams extends AdamWHyperparameters {
  n: number;
  lr: number;
  /** 1 - beta1^t */
  biasCorrection1: number;
  /** 1 - beta2^t */
  biasCorrection2: number;
}

export interface Backend {
  /** 'wasm' or 'webgpu' */
  readonly name: string;
  /** human-readable: adapter name, thread count */
  readonly description: string;

  // ---- memory ------------------------------------------------------------------------------
  /**
   * A new buffer of `size` elements, zero-filled unless `zero` is false: then its contents are
   * undefined (engine/arena.ts asks for that: whoever takes a pooled buffer writes it first).
   */
  alloc(dtype: DType, size: number, zero?: boolean): BufferHandle;
  free(buf: BufferHandle): void;
  /** Bytes held by live buffers. */
  bytesInUse(): number;
  /** Upload `data` into buf starting at element `offset` (default 0). */
  write(buf: BufferHandle, data: Float32Array | Int32Array, offset?: number): void;
  /** Download `size` elements. */
  read(buf: BufferHandle, dtype: DType, size: number, offset?: number): Promise<Float32Array | Int32Array>;
  /** dst[dstOffset + i] = src[srcOffset + i], i < n (elements). */
  copy(dst: BufferHandle, src: BufferHandle, n: number, dstOffset?: number, srcOffset?: number): void;
  /** buf[i] = value, i < n (f32). */
  fill(buf: BufferHandle, value: number, n: number): void;
  /** Wait until every enqueued op has finished. */
  sync(): Promise<void>;
  /** Release everything; the backend is unusable afterwards. */
  destroy(): Promise<void>;

  // ---- ops (kernels/<op>) -------------------------------------------------------------------

  /** matmul: C[M,N] = alpha * op(A) op(B) + beta * C. The backward is matmul with other flags. */
  matmul(c: BufferHandle, a: BufferHandle, b: BufferHandle, p: MatmulParams): void;

  /**
   * lora forward: U[T,r] = (X ∘ mask) A^T (written); Y[T,out] += scale * U B^T (added into).
   * A is [r, in], B is [out, r] (PEFT layout). mask is [T, in] (dropout, already scaled by
   * 1/(1-p)) or null for no dropout.
   */
  loraForward(y: BufferHandle, u: BufferHandle, x: BufferHandle, a: BufferHandle, b: BufferHandle,
    mask: BufferHandle | null, d: LoraDims): void;
  /**
   * lora backward, given dY[T,out] and the forward's U:
   *   dU[T,r] = scale * dY B        (written, scratch)
   *   dX[T,in] += (dU A) ∘ mask     (added into)
   *   when dA and dB are given: dB[out,r] += scale * dY^T U;  dA[r,in] += dU^T (X ∘ mask)
   */
  loraBackward(dx: BufferHandle, dA: BufferHandle | null, dB: BufferHandle | null, du: BufferHandle,
    dy: BufferHandle, x: BufferHandle, a: BufferHandle, b: BufferHandle, u: BufferHandle,
    mask: BufferHandle | null, d: LoraDims): void;

  /**
   * dropout: mask[i] = (hash(seed, i) / 2^32 >= p) ? 1/(1-p) : 0, for i < n. The hash is the
   * same integer hash on every backend (kernels/as/dropout.ts), so masks agree bit for bit.
   * With `rows` (index: i32 [n / width]), mask is [n / width, width] and element (r, j) hashes
   * index[r] * width + j instead of its own place: the rows index[r] of a whole mask.
   */
  dropoutMask(mask: BufferHandle, n: number, p: number, seed: number, rows?: { index: BufferHandle; width: number } | null): void;

  /** embedding: out[i, :] = table[ids[i], :], i < N, rows of width D. */
  embedding(out: BufferHandle, table: BufferHandle, ids: BufferHandle, N: number, D: number): void;
  /** embedding backward: dTable[ids[i], :] += dOut[i, :]. */
  embeddingBackward(dTable: BufferHandle, dOut: BufferHandle, ids: BufferHandle, N: number, D: number, V: number): void;

  /** rmsnorm: rstd[i] = 1/sqrt(mean(x_i^2) + eps); out = x * rstd[i] * w. x is [rows, D]. */
  rmsnorm(out: BufferHandle, rstd: BufferHandle, x: BufferHandle, w: BufferHandle, rows: number, D: number, eps: number): void;
  /** rmsnorm backward: writes dX; adds into dW when given. */
  rmsnormBackward(dx: BufferHandle, dw: BufferHandle | null, dy: BufferHandle, x: BufferHandle, w: BufferHandle,
    rstd: BufferHandle, rows: number, D: number): void;

  /**
   * layernorm (torch.nn.LayerNorm with weight and bias): mean[i] and rstd[i] = 1/sqrt(var_i + eps)
   * (biased variance) over each row of x [rows, D], saved for the backward; out = (x - mean) * rstd * w + b.
   */
  layernorm(out: BufferHandle, mean: BufferHandle, rstd: BufferHandle, x: BufferHandle, w: BufferHandle, b: BufferHandle,
    rows: number, D: number, eps: number): void;
  /** layernorm backward: writes dX. No dW or dB: the norms are frozen (LoRA trains adapters only). */
  layernormBackward(dx: BufferHandle, dy: BufferHandle, x: BufferHandle, w: BufferHandle, mean: BufferHandle,
    rstd: BufferHandle, rows: number, D: number): void;

  /**
   * rope, in place on x [rows, H, hd] where row i is at position pos0 + (i mod T).
   * cos and sin are tables [maxPos, hd/2]. interleaved: pairs (2j, 2j+1) (llama2.c);
   * otherwise pairs (j, j + hd/2) (Hugging Face rotate-half). inverse rotates by -angle:
   * that is the backward.
   */
  rope(x: BufferHandle, cos: BufferHandle, sin: BufferHandle, rows: number, T: number, H: number, hd: number,
    pos0: number, interleaved: boolean, inverse: boolean): void;

  /**
   * causal attention with GQA: q [B,Tq,Hq,hd], k and v [B,Tk,Hkv,hd], out [B,Tq,Hq,hd],
   * lse [B,Hq,Tq] (log-sum-exp of the scaled scores, saved for the backward). Query i of batch b
   * attends keys j with j <= qPos0 + i and j < keyLen[b] (keyLen: i32 [B]; padding is on the
   * right). Query head h reads kv head floor(h / (Hq/Hkv)). A row with no key gets zeros.
   */
  attention(out: BufferHandle, lse: BufferHandle, q: BufferHandle, k: BufferHandle, v: BufferHandle,
    keyLen: BufferHandle, d: AttentionDims): void;
  /** attention backward: writes dq, dk, dv (dk/dv sum over the query heads of a group). */
  attentionBackward(dq: BufferHandle, dk: BufferHandle, dv: BufferHandle, dout: BufferHandle,
    q: BufferHandle, k: BufferHandle, v: BufferHandle, out: BufferHandle, lse: BufferHandle,
    keyLen: BufferHandle, d: AttentionDims): void;

  /** swiglu: out = silu(gate) * up, elementwise over n. */
  swiglu(out: BufferHandle, gate: BufferHandle, up: BufferHandle, n: number): void;
  /** swiglu backward: writes dGate and dUp. */
  swigluBackward(dGate: BufferHandle, dUp: BufferHandle, dOut: BufferHandle, gate: BufferHandle, up: BufferHandle, n: number): void;

  /** relu: out = max(x, 0), elementwise over n. */
  relu(out: BufferHandle, x: BufferHandle, n: number): void;
  /** relu backward: writes dX = dY where x > 0, else 0 (x: the forward's input). */
  reluBackward(dx: BufferHandle, dy: BufferHandle, x: BufferHandle, n: number): void;

  /**
   * bias-add: y[i, :] += b over y [rows, D] (a linear layer's bias). Forward only: the gradient
   * into y passes through unchanged, and the biases are frozen (no dB).
   */
  biasAdd(y: BufferHandle, b: BufferHandle, rows: number, D: number): void;

  /**
   * cross-entropy per row: lse[i] = logsumexp(logits_i) (saved for the backward) and
   * loss[i] = lse[i] - logits_i[labels[i]], or loss 0 where labels[i] == -100 (lse is then not
   * used). logits [N, V], labels i32 [N] (already shifted for causal LM).
   */
  crossEntropy(loss: BufferHandle, lse: BufferHandle, logits: BufferHandle, labels: BufferHandle, N: number, V: number): void;
  /**
   * cross-entropy backward from the forward's lse: dLogits = scale * (exp(logits - lse) -
   * onehot(label)); rows with label -100 get 0. dLogits may be logits (in place: the gradient
   * replaces the logits, and no second [N, V] buffer is needed).
   */
  crossEntropyBackward(dLogits: BufferHandle, logits: BufferHandle, lse: BufferHandle, labels: BufferHandle, N: number, V: number, scale: number): void;

  /** sum of squares: out[0] += sum_i x[i]^2, i < n (out is a 1-element f32 buffer). */
  sumSquares(out: BufferHandle, x: BufferHandle, n: number): void;

  /** AdamW step, as torch.optim.AdamW (decoupled weight decay), in place on p, m, v. */
  adamw(p: BufferHandle, g: BufferHandle, m: BufferHandle, v: BufferHandle, o: AdamWParams): void;

  // ---- elementwise helpers (kernels/<as|wgsl>/elementwise) -----------------------------------
  // These three may run in place (out === x); every other op needs distinct buffers.
  /** y[i] += alpha * x[i] */
  axpy(y: BufferHandle, x: BufferHandle, alpha: number, n: number): void;
  /** out[i] = alpha * x[i] (out may be x) */
  scale(out: BufferHandle, x: BufferHandle, alpha: number, n: number): void;
  /**
   * out[i] = x[i] * rho / (sqrt(s[0]) + eps), where s is a 1-element buffer holding a sum of
   * squares: normalises by a global norm without a round trip to the host (Vaccine's step 2).
   * out may be x.
   */
  scaleByInverseNorm(out: BufferHandle, x: BufferHandle, s: BufferHandle, rho: number, eps: number, n: number): void;

  // ---- optional: f16 storage for frozen weights (WebGPU with shader-f16) ----------------------
  /** true where the f16 methods below work */
  readonly hasF16?: boolean;
  /** A zero-filled buffer of `size` f16 elements. */
  allocF16?(size: number): BufferHandle;
  /** Upload f32 values rounded to f16 (round to nearest even). */
  writeF16?(buf: BufferHandle, data: Float32Array): void;
  /** matmul with B stored as f16; same layouts and semantics as matmul, compute in f32. */
  matmulF16B?(c: BufferHandle, a: BufferHandle, bHalf: BufferHandle, p: MatmulParams): void;
}
