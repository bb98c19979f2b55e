"""Plain-torch re-statement of Hugging Face OPTForCausalLM (pre-LayerNorm) with PEFT LoRA.

Written without `transformers` (not installed); each function mirrors the HF/PEFT module it names
(modeling_opt.py: OPTLearnedPositionalEmbedding, OPTAttention, OPTDecoderLayer, OPTDecoder).
Everything is computed in whatever dtype the inputs have (the fixtures use float64).
"""
import torch

from llama_ref import attention, linear, visibility_mask

ATTN_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
MLP_TARGETS = ("fc1", "fc2")
TARGETS = ATTN_TARGETS + MLP_TARGETS
POSITION_OFFSET = 2  # OPTLearnedPositionalEmbedding.offset
LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, which HF's OPT uses for every norm


def module_name(layer, target):
    group = "self_attn." if target in ATTN_TARGETS else ""
    return f"model.decoder.layers.{layer}.{group}{target}"


def peft_name(layer, target):
    return "base_model.model." + module_name(layer, target)


def layer_norm(x, weight, bias, eps=LAYER_NORM_EPS):
    # nn.LayerNorm over the last dimension: biased variance
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def positions(lengths, T):
    # OPTLearnedPositionalEmbedding: cumsum(mask) * mask - 1, plus the offset; right padding -> -1
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()
    return (torch.cumsum(mask, dim=1) * mask - 1) + POSITION_OFFSET


def forward(cfg, W, lora, scale, ids, lengths, perturb=None, attn_fn=attention, norm_fn=layer_norm):
    """Returns (logits [B,T,V], attn_outs: list of [B,T,D] out_proj outputs incl. bias and LoRA,
    before perturbation and residual). perturb[l] ([B*T, D]) is added to layer l's attention-block
    output before the residual add."""
    B, T = ids.shape
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = D // H
    d = "model.decoder."
    x = W[d + "embed_tokens.weight"][ids]
    if d + "project_in.weight" in W:
        x = x @ W[d + "project_in.weight"].T
    x = x + W[d + "embed_positions.weight"][positions(lengths, T)]
    mask = visibility_mask(lengths, T)
    attn_outs = []
    for l in range(cfg["num_hidden_layers"]):
        p = f"{d}layers.{l}."
        h = norm_fn(x, W[p + "self_attn_layer_norm.weight"], W[p + "self_attn_layer_norm.bias"])
        # OPTAttention scales q (bias included) by hd^-0.5; attention() scales the scores instead: the same product
        q = linear(h, W, p + "self_attn.q_proj", lora, scale).view(B, T, H, hd).transpose(1, 2)
        k = linear(h, W, p + "self_attn.k_proj", lora, scale).view(B, T, H, hd).transpose(1, 2)
        v = linear(h, W, p + "self_attn.v_proj", lora, scale).view(B, T, H, hd).transpose(1, 2)
        ctx = attn_fn(q, k, v, mask).transpose(1, 2).reshape(B, T, D)
        a = linear(ctx, W, p + "self_attn.out_proj", lora, scale)
        attn_outs.append(a)
        if perturb is not None:
            a = a + perturb[l].view(B, T, D)
        x = x + a
        h = norm_fn(x, W[p + "final_layer_norm.weight"], W[p + "final_layer_norm.bias"])
        f = torch.relu(linear(h, W, p + "fc1", lora, scale))
        x = x + linear(f, W, p + "fc2", lora, scale)
    x = norm_fn(x, W[d + "final_layer_norm.weight"], W[d + "final_layer_norm.bias"])
    if d + "project_out.weight" in W:
        x = x @ W[d + "project_out.weight"].T
    head = W["lm_head.weight"] if "lm_head.weight" in W else W[d + "embed_tokens.weight"]
    return x @ head.T, attn_outs
