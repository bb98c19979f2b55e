"""Plain-torch re-statement of Hugging Face LlamaForCausalLM / Qwen2ForCausalLM math with PEFT LoRA.

Written without `transformers` (not installed); each function mirrors the HF/PEFT module it names.
Everything is computed in whatever dtype the inputs have (the fixtures use float64).
"""
import torch
import torch.nn.functional as F

ATTN_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_TARGETS = ("gate_proj", "up_proj", "down_proj")
TARGETS = ATTN_TARGETS + MLP_TARGETS


def module_name(layer, target):
    group = "self_attn" if target in ATTN_TARGETS else "mlp"
    return f"model.layers.{layer}.{group}.{target}"


def peft_name(layer, target):
    return "base_model.model." + module_name(layer, target)


def rms_norm(x, weight, eps):
    # LlamaRMSNorm / Qwen2RMSNorm: weight * x * rsqrt(mean(x^2) + eps)
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope_cos_sin(head_dim, theta, T, dtype):
    # LlamaRotaryEmbedding (default rope_type): positions 0..T-1, emb = cat(freqs, freqs)
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=dtype) / head_dim))
    freqs = torch.arange(T, dtype=dtype)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x, cos, sin):
    # x: [B, H, T, hd]; cos/sin: [T, hd]
    return x * cos + rotate_half(x) * sin


def repeat_kv(x, n_rep):
    # [B, KVH, T, hd] -> [B, KVH*n_rep, T, hd], head h reads kv head h // n_rep (as HF repeat_kv)
    if n_rep == 1:
        return x
    B, KVH, T, hd = x.shape
    return x[:, :, None].expand(B, KVH, n_rep, T, hd).reshape(B, KVH * n_rep, T, hd)


def visibility_mask(lengths, T):
    # key j visible to query i iff j <= i and j < length[b]  -> bool [B, 1, T, T]
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    causal = j <= i
    valid_key = j[None] < lengths[:, None, None]
    return (causal[None] & valid_key)[:, None]


def attention(q, k, v, mask):
    # eager HF attention: softmax(q k^T / sqrt(hd) + mask) v with -inf on hidden keys
    hd = q.shape[-1]
    scores = q @ k.transpose(-1, -2) / hd ** 0.5
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def linear(x, W, prefix, lora, scale, bias=True):
    """Base linear (+ optional bias) + PEFT LoRA: y = x W^T + b + scale * (x A^T) B^T (no dropout)."""
    y = x @ W[prefix + ".weight"].T
    if bias and (prefix + ".bias") in W:
        y = y + W[prefix + ".bias"]
    key = "base_model.model." + prefix
    if lora is not None and key in lora:
        A, B = lora[key]
        y = y + scale * ((x @ A.T) @ B.T)
    return y


def forward(cfg, W, lora, scale, ids, lengths, perturb=None, attn_fn=attention, rope_fn=apply_rope):
    """Returns (logits [B,T,V], attn_outs: list of [B,T,D] o_proj outputs incl. LoRA, before perturb/residual).

    perturb[l] ([B*T, D]) is added to layer l's attention-block output before the residual add.
    """
    B, T = ids.shape
    D = cfg["hidden_size"]
    H, KVH = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    emb = W["model.embed_tokens.weight"]
    x = emb[ids]
    cos, sin = rope_cos_sin(hd, cfg["rope_theta"], T, x.dtype)
    mask = visibility_mask(lengths, T)
    attn_outs = []
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = linear(h, W, p + "self_attn.q_proj", lora, scale).view(B, T, H, hd).transpose(1, 2)
        k = linear(h, W, p + "self_attn.k_proj", lora, scale).view(B, T, KVH, hd).transpose(1, 2)
        v = linear(h, W, p + "self_attn.v_proj", lora, scale).view(B, T, KVH, hd).transpose(1, 2)
        q, k = rope_fn(q, cos, sin), rope_fn(k, cos, sin)
        k, v = repeat_kv(k, H // KVH), repeat_kv(v, H // KVH)
        ctx = attn_fn(q, k, v, mask).transpose(1, 2).reshape(B, T, H * hd)
        a = linear(ctx, W, p + "self_attn.o_proj", lora, scale)
        attn_outs.append(a)
        if perturb is not None:
            a = a + perturb[l].view(B, T, D)
        x = x + a
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = linear(h, W, p + "mlp.gate_proj", lora, scale)
        u = linear(h, W, p + "mlp.up_proj", lora, scale)
        x = x + linear(F.silu(g) * u, W, p + "mlp.down_proj", lora, scale)
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ head.T, attn_outs


def causal_lm_loss(logits, labels):
    """HF ForCausalLMLoss: logits[:, :-1] vs labels[:, 1:], mean NLL over labels != -100."""
    V = logits.shape[-1]
    shift_logits = logits[:, :-1].reshape(-1, V)
    shift_labels = labels[:, 1:].reshape(-1)
    valid = shift_labels != -100
    logp = torch.log_softmax(shift_logits[valid], dim=-1)
    return -logp.gather(1, shift_labels[valid][:, None]).mean()
