"""PyTorch side of bench/train_step.ts: the same Llama shapes with LoRA on all seven projections,
forward + backward into the LoRA weights only (base frozen), f32, eager attention as in HF.
Prints one JSON line: {"threads", "sft_ms", "tokens_per_s"}. Run: /usr/bin/python3 bench/torch_train_step.py '<json cfg>' THREADS STEPS
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "reference"))
from llama_ref import TARGETS, causal_lm_loss, forward, module_name, peft_name  # noqa: E402

cfg = json.loads(sys.argv[1])
threads = int(sys.argv[2])
steps = int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
D, I, V, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
hd = cfg["head_dim"]
qo, kvo = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
shapes = {"q_proj": (qo, D), "k_proj": (kvo, D), "v_proj": (kvo, D), "o_proj": (D, qo),
          "gate_proj": (I, D), "up_proj": (I, D), "down_proj": (D, I)}
W = {"model.embed_tokens.weight": torch.randn(V, D), "model.norm.weight": torch.ones(D), "lm_head.weight": torch.randn(V, D) * 0.02}
lora = {}
r = cfg["r"]
for l in range(L):
    W[f"model.layers.{l}.input_layernorm.weight"] = torch.ones(D)
    W[f"model.layers.{l}.post_attention_layernorm.weight"] = torch.ones(D)
    for t in TARGETS:
        o, i = shapes[t]
        W[module_name(l, t) + ".weight"] = torch.randn(o, i) * 0.02
        lora[peft_name(l, t)] = (torch.randn(r, i).mul_(0.02).requires_grad_(), torch.zeros(o, r).requires_grad_())
B, T = cfg["B"], cfg["T"]
ids = torch.randint(0, V, (B, T))
labels = ids.clone()
lengths = torch.full((B,), T)


def step():
    logits, _ = forward(cfg, W, lora, 2.0, ids, lengths)
    loss = causal_lm_loss(logits, labels)
    loss.backward()
    for a, b in lora.values():
        a.grad = None
        b.grad = None


step()  # warm-up
t0 = time.perf_counter()
for _ in range(steps):
    step()
ms = (time.perf_counter() - t0) * 1000 / steps
print(json.dumps({"threads": threads, "sft_ms": ms, "tokens_per_s": B * T / (ms / 1000)}))
