"""PyTorch side of the benchmark harness (bench/run.ts --compare-torch): the same kernels and the
same training steps as the engine, on the CPU, with the thread count the engine uses, in the same
run. Reads one JSON request on stdin, prints one JSON line.

  kernels: {"threads", "min_seconds", "kernels": [{"id", "spec"}]}   (spec as bench/lib/kernels.ts)
           -> {"torch", "threads", "results": [{"id", "best_ms", "reps"}]}
  steps:   {"threads", "cfg", "batch": {"B","T","ids","labels","lengths"}, "steps", "warmup",
            "r", "alpha", "dropout", "rho", "seed"}
           -> {"torch", "threads", "sft": {"ms"}, "vaccine": {"ms"}, "losses", "max_rss_bytes"}

The step is the engine's (engine/jobs/trainer.ts with align's step functions), restated in plain
torch on test/reference/llama_ref.py's pieces: RMSNorm, rotate-half RoPE, GQA attention (eager,
as Hugging Face's), SwiGLU, PEFT LoRA (dropout on the adapter's input) on all seven projections,
mean cross-entropy over the labels that count. Then clip_grad_norm_(1.0) and torch.optim.AdamW
(lr 1e-3, weight decay 0.1). Vaccine (Huang et al. 2024, Algorithm 1):
  pass 1: forward, and the gradients of the loss with respect to each layer's attention-block
          output (the o_proj outputs, LoRA included) only: torch.autograd.grad, so no LoRA
          gradient is computed in this pass (the engine skips them too);
  e_l = rho * g_l / (||(g_1..g_L)||_2 + 1e-7), one norm over all layers and the batch;
  pass 2: forward with e_l added to those outputs, backward into the LoRA weights; clip; AdamW.
Weights are random (timing does not depend on their values); frozen weights need no gradient.
"""
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "reference"))
from llama_ref import (TARGETS, apply_rope, attention, causal_lm_loss, module_name,  # noqa: E402
                       repeat_kv, rms_norm, rope_cos_sin, visibility_mask)


def best_of(fn, min_seconds):
    """Fastest of repeated calls (at least 3, for at least min_seconds), after one untimed call."""
    fn()
    reps, best, t0 = 0, float("inf"), time.perf_counter()
    while reps < 3 or time.perf_counter() - t0 < min_seconds:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        reps += 1
    return best * 1000, reps


def kernel_fn(spec, g):
    kind = spec["kind"]
    rnd = lambda *shape: torch.rand(*shape, generator=g) - 0.5  # noqa: E731
    if kind == "matmul":
        p = spec["p"]
        M, N, K = p["M"], p["N"], p["K"]
        a = rnd(K, M) if p["transA"] else rnd(M, K)
        b = rnd(N, K) if p["transB"] else rnd(K, N)
        c = torch.empty(M, N)
        aa = a.t() if p["transA"] else a
        bb = b.t() if p["transB"] else b
        return lambda: torch.mm(aa, bb, out=c)
    if kind in ("lora_fwd", "lora_bwd"):
        d = spec["d"]
        T, i, o, r, s = d["T"], d["inF"], d["outF"], d["r"], d["scale"]
        x, A, B, y, u = rnd(T, i), rnd(r, i), rnd(o, r), rnd(T, o), torch.empty(T, r)
        if kind == "lora_fwd":
            def fwd():
                torch.mm(x, A.t(), out=u)
                y.addmm_(u, B.t(), alpha=s)
            return fwd
        dx, dA, dB, du = rnd(T, i), torch.zeros(r, i), torch.zeros(o, r), torch.empty(T, r)

        def bwd():
            torch.mm(y, B, out=du)
            du.mul_(s)
            dx.addmm_(du, A)
            dB.addmm_(y.t(), u, alpha=s)
            dA.addmm_(du.t(), x)
        return bwd
    d = spec["d"]
    Bn, T, Hq, Hkv, hd = d["B"], d["Tq"], d["Hq"], d["Hkv"], d["hd"]
    q = rnd(Bn, Hq, T, hd).requires_grad_()
    k = rnd(Bn, Hkv, T, hd).requires_grad_()
    v = rnd(Bn, Hkv, T, hd).requires_grad_()
    mask = visibility_mask(torch.full((Bn,), T), T)

    def fwd():
        return attention(q, repeat_kv(k, Hq // Hkv), repeat_kv(v, Hq // Hkv), mask)
    if kind == "attn_fwd":
        return lambda: fwd().detach()
    out = fwd()
    dout = rnd(*out.shape)
    return lambda: out.backward(dout, retain_graph=True)


def run_kernels(req):
    g = torch.Generator().manual_seed(0)
    results = []
    for k in req["kernels"]:
        fn = kernel_fn(k["spec"], g)
        ms, reps = best_of(fn, req["min_seconds"])
        results.append({"id": k["id"], "best_ms": ms, "reps": reps})
    return {"results": results}


class Model:
    def __init__(self, cfg, r, alpha, dropout, seed):
        torch.manual_seed(seed)
        self.cfg = cfg
        D, I, V, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
        hd = cfg["head_dim"]
        qo, kvo = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
        self.shapes = {"q_proj": (qo, D), "k_proj": (kvo, D), "v_proj": (kvo, D), "o_proj": (D, qo),
                       "gate_proj": (I, D), "up_proj": (I, D), "down_proj": (D, I)}
        W = {"model.embed_tokens.weight": (torch.rand(V, D) - 0.5) * 0.7, "model.norm.weight": torch.ones(D)}
        if not cfg["tie_word_embeddings"]:
            W["lm_head.weight"] = (torch.rand(V, D) - 0.5) * 0.7
        self.lora = {}
        for l in range(L):
            W[f"model.layers.{l}.input_layernorm.weight"] = torch.ones(D)
            W[f"model.layers.{l}.post_attention_layernorm.weight"] = torch.ones(D)
            for t in TARGETS:
                o, i = self.shapes[t]
                bound = 1 / i ** 0.5
                W[module_name(l, t) + ".weight"] = (torch.rand(o, i) * 2 - 1) * bound * 3 ** 0.5
                A = ((torch.rand(r, i) * 2 - 1) * bound).requires_grad_()
                B = torch.zeros(o, r).requires_grad_()
                self.lora[module_name(l, t)] = (A, B)
        self.W = W
        self.scale = alpha / r
        self.dropout = dropout

    def params(self):
        return [p for ab in self.lora.values() for p in ab]

    def linear(self, x, prefix):
        y = x @ self.W[prefix + ".weight"].T
        A, B = self.lora[prefix]
        xd = F.dropout(x, self.dropout, training=True) if self.dropout > 0 else x
        return y + self.scale * ((xd @ A.T) @ B.T)

    def forward(self, ids, lengths, perturb=None):
        cfg, W = self.cfg, self.W
        Bn, T = ids.shape
        H, KVH, hd, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"], cfg["rms_norm_eps"]
        x = W["model.embed_tokens.weight"][ids]
        cos, sin = rope_cos_sin(hd, cfg["rope_theta"], T, x.dtype)
        mask = visibility_mask(lengths, T)
        outs = []
        for l in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{l}."
            h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
            q = self.linear(h, p + "self_attn.q_proj").view(Bn, T, H, hd).transpose(1, 2)
            k = self.linear(h, p + "self_attn.k_proj").view(Bn, T, KVH, hd).transpose(1, 2)
            v = self.linear(h, p + "self_attn.v_proj").view(Bn, T, KVH, hd).transpose(1, 2)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            ctx = attention(q, repeat_kv(k, H // KVH), repeat_kv(v, H // KVH), mask).transpose(1, 2).reshape(Bn, T, H * hd)
            a = self.linear(ctx, p + "self_attn.o_proj")
            outs.append(a)
            if perturb is not None:
                a = a + perturb[l]
            x = x + a
            h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
            x = x + self.linear(F.silu(self.linear(h, p + "mlp.gate_proj")) * self.linear(h, p + "mlp.up_proj"), p + "mlp.down_proj")
        x = rms_norm(x, W["model.norm.weight"], eps)
        head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
        return x @ head.T, outs


def run_steps(req):
    b = req["batch"]
    Bn, T = b["B"], b["T"]
    ids = torch.tensor(b["ids"], dtype=torch.long).view(Bn, T)
    labels = torch.tensor(b["labels"], dtype=torch.long).view(Bn, T)
    lengths = torch.tensor(b["lengths"], dtype=torch.long)
    m = Model(req["cfg"], req["r"], req["alpha"], req["dropout"], req["seed"])
    params = m.params()
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.1)
    rho = req["rho"]

    def finish():
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    def sft():
        opt.zero_grad(set_to_none=False)
        logits, _ = m.forward(ids, lengths)
        loss = causal_lm_loss(logits, labels)
        loss.backward()
        finish()
        return loss.item(), None

    def vaccine():
        opt.zero_grad(set_to_none=False)
        logits, outs = m.forward(ids, lengths)
        loss = causal_lm_loss(logits, labels)
        grads = torch.autograd.grad(loss, outs)
        norm = torch.sqrt(sum((g * g).sum() for g in grads))
        e = [rho * g / (norm + 1e-7) for g in grads]
        logits2, _ = m.forward(ids, lengths, perturb=e)
        loss2 = causal_lm_loss(logits2, labels)
        loss2.backward()
        finish()
        return loss.item(), loss2.item()

    fns = {"sft": sft, "vaccine": vaccine}
    out = {"sft": {"ms": []}, "vaccine": {"ms": []}, "losses": {}}
    for _ in range(req["warmup"]):
        for name in ("sft", "vaccine"):
            res = fns[name]()
            out["losses"].setdefault(name, res)
    for i in range(req["steps"]):
        for name in (("vaccine", "sft") if i % 2 else ("sft", "vaccine")):
            t = time.perf_counter()
            res = fns[name]()
            out[name]["ms"].append((time.perf_counter() - t) * 1000)
            out["losses"].setdefault(name, res)
    return out


def main():
    what = sys.argv[1]
    req = json.load(sys.stdin)
    torch.set_num_threads(req["threads"])
    res = run_kernels(req) if what == "kernels" else run_steps(req)
    res.update({"torch": torch.__version__, "threads": torch.get_num_threads(),
                "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
    print(json.dumps(res))


if __name__ == "__main__":
    main()
