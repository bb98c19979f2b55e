"""Assertions that the references in llama_ref.py and opt_ref.py agree with independent formulations (all f64).

torch 1.13 has no F.scaled_dot_product_attention, so attention is checked against explicit loops.
`ref` below is the family's reference module (llama_ref or opt_ref): its `forward` is checked.
"""
import math

import torch
import torch.nn.functional as F

import llama_ref
import opt_ref
from llama_ref import apply_rope, attention, causal_lm_loss, linear, repeat_kv, rms_norm, rope_cos_sin, visibility_mask

F64_TIGHT = 1e-12  # f64 reformulations of the same math: only rounding differs


def close(a, b, tol=F64_TIGHT, what=""):
    err = (a - b).abs().max().item() / max(b.abs().max().item(), 1e-300)
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:g}"


def complex_rope(x, cos_unused, sin_unused):
    # rotate-half pairs element j with j + hd/2; treat the pair as a complex number and rotate it
    T, hd = x.shape[-2], x.shape[-1]
    theta = complex_rope.theta
    half = hd // 2
    out = torch.empty_like(x)
    for t in range(T):
        for j in range(half):
            ang = t / math.pow(theta, 2 * j / hd)
            z = torch.complex(x[..., t, j], x[..., t, j + half]) * complex(math.cos(ang), math.sin(ang))
            out[..., t, j] = z.real
            out[..., t, j + half] = z.imag
    return out


def naive_attention(q, k, v, lengths, n_rep):
    # q [B,H,T,hd], k/v [B,KVH,T,hd] (not repeated); explicit softmax over the visible keys only
    B, H, T, hd = q.shape
    out = torch.zeros_like(q)
    for b in range(B):
        for h in range(H):
            kv = h // n_rep
            for i in range(T):
                keys = [j for j in range(T) if j <= i and j < int(lengths[b])]
                s = torch.stack([(q[b, h, i] * k[b, kv, j]).sum() / math.sqrt(hd) for j in keys])
                p = torch.exp(s - s.max())
                p = p / p.sum()
                out[b, h, i] = sum(p[n] * v[b, kv, j] for n, j in enumerate(keys))
    return out


def loop_loss(logits, labels):
    total, count = 0.0, 0
    B, T, V = logits.shape
    for b in range(B):
        for t in range(T - 1):
            y = int(labels[b, t + 1])
            if y == -100:
                continue
            row = logits[b, t]
            total += (torch.logsumexp(row, 0) - row[y]).item()
            count += 1
    return total / count


def lora64(lora32):
    return {k: (A.double(), B.double()) for k, (A, B) in lora32.items()}


def check_components(cfg, gen):
    hd, H, KVH = cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    B, T = 3, 6
    lengths = torch.tensor([6, 4, 1])
    q = torch.randn(B, H, T, hd, generator=gen, dtype=torch.float64)
    k = torch.randn(B, KVH, T, hd, generator=gen, dtype=torch.float64)
    v = torch.randn(B, KVH, T, hd, generator=gen, dtype=torch.float64)
    cos, sin = rope_cos_sin(hd, cfg["rope_theta"], T, torch.float64)
    complex_rope.theta = cfg["rope_theta"]
    close(apply_rope(q, cos, sin), complex_rope(q, None, None), what="rope")
    n_rep = H // KVH
    rk = repeat_kv(k, n_rep)
    for h in range(H):
        assert torch.equal(rk[:, h], k[:, h // n_rep]), "repeat_kv"
    close(attention(q, rk, repeat_kv(v, n_rep), visibility_mask(lengths, T)),
          naive_attention(q, k, v, lengths, n_rep), what="attention")
    x = torch.randn(4, cfg["hidden_size"], generator=gen, dtype=torch.float64)
    w = torch.randn(cfg["hidden_size"], generator=gen, dtype=torch.float64)
    D, eps = x.shape[1], cfg["rms_norm_eps"]
    close(rms_norm(x, w, eps), w * x * math.sqrt(D) / torch.sqrt((x * x).sum(1, keepdim=True) + D * eps), what="rmsnorm")
    check_lora_linear(gen)


def check_opt_components(cfg, gen):
    B, T, H, hd = 3, 6, cfg["num_attention_heads"], cfg["hidden_size"] // cfg["num_attention_heads"]
    lengths = torch.tensor([6, 4, 1])
    q, k, v = (torch.randn(B, H, T, hd, generator=gen, dtype=torch.float64) for _ in range(3))
    close(attention(q, k, v, visibility_mask(lengths, T)), naive_attention(q, k, v, lengths, 1), what="attention")
    x = torch.randn(4, cfg["hidden_size"], generator=gen, dtype=torch.float64) * 3 + 2
    w = torch.randn(cfg["hidden_size"], generator=gen, dtype=torch.float64)
    b = torch.randn(cfg["hidden_size"], generator=gen, dtype=torch.float64)
    close(opt_ref.layer_norm(x, w, b), F.layer_norm(x, (x.shape[1],), w, b, eps=opt_ref.LAYER_NORM_EPS), what="layer_norm")
    # HF's rule, worked out by hand: valid tokens at 2..n+1, right padding at 1
    assert opt_ref.positions(torch.tensor([3, 1]), 4).tolist() == [[2, 3, 4, 1], [2, 1, 1, 1]], "positions"
    check_lora_linear(gen)


def check_lora_linear(gen):
    # gradcheck the LoRA linear (with a bias so the bias path is exercised too)
    xin = torch.randn(5, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    Wt = {"m.weight": torch.randn(6, 7, generator=gen, dtype=torch.float64),
          "m.bias": torch.randn(6, generator=gen, dtype=torch.float64)}
    A = torch.randn(3, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    Bm = torch.randn(6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda xx, AA, BB: linear(xx, Wt, "m", {"base_model.model.m": (AA, BB)}, 1.7), (xin, A, Bm))
    # the LoRA delta must equal merging scale * B A into W (what Double-LoRA's mergeLora does)
    merged = {"m.weight": Wt["m.weight"] + 1.7 * Bm @ A, "m.bias": Wt["m.bias"]}
    close(linear(xin, Wt, "m", {"base_model.model.m": (A, Bm)}, 1.7), linear(xin, merged, "m", None, 0), what="merge")


def check_model(ref, cfg, W64, lora32, scale, ids, labels, lengths, clean):
    L = lora64(lora32)
    logits = clean["logits"]
    forward = ref.forward
    if ref is llama_ref:
        # independent RoPE + attention path through the whole model
        complex_rope.theta = cfg["rope_theta"]
        n_rep = cfg["num_attention_heads"] // cfg["num_key_value_heads"]

        def naive_attn_fn(q, k, v, mask):
            # k, v arrive repeated; de-repeat by taking every n_rep-th head, then use the loop
            return naive_attention(q, k[:, ::n_rep], v[:, ::n_rep], lengths, n_rep)

        alt, _ = forward(cfg, W64, L, scale, ids, lengths, attn_fn=naive_attn_fn, rope_fn=complex_rope)
        close(alt, logits, what="model with naive attention + complex rope")
    else:
        # independent attention and LayerNorm path through the whole model
        alt, _ = forward(cfg, W64, L, scale, ids, lengths,
                         attn_fn=lambda q, k, v, mask: naive_attention(q, k, v, lengths, 1),
                         norm_fn=lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b, eps=opt_ref.LAYER_NORM_EPS))
        close(alt, logits, what="model with naive attention + F.layer_norm")

    close(clean["loss"], F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                         ignore_index=-100, reduction="mean"), what="loss vs F.cross_entropy")
    assert abs(clean["loss"].item() - loop_loss(logits, labels)) <= 1e-12 * clean["loss"].item(), "loss loop"

    # padding semantics: each row alone and unpadded gives the same valid-position logits
    for b in range(ids.shape[0]):
        n = int(lengths[b])
        solo, _ = forward(cfg, W64, L, scale, ids[b:b + 1, :n], lengths[b:b + 1])
        close(solo[0], logits[b, :n], tol=1e-12, what=f"row {b} unpadded")
    other = ids.clone()
    for b in range(ids.shape[0]):
        other[b, int(lengths[b]):] = 5 + b
    moved, _ = forward(cfg, W64, L, scale, other, lengths)
    for b in range(ids.shape[0]):
        n = int(lengths[b])
        close(moved[b, :n], logits[b, :n], tol=1e-12, what="pad-id invariance")
    for l, g in enumerate(clean["attn_grads"]):
        g = g.view(ids.shape[0], ids.shape[1], -1)
        for b in range(ids.shape[0]):
            assert torch.all(g[b, int(lengths[b]):] == 0), "attn-out grad on padding must be 0"


def fd_check(ref, cfg, W64, lora32, scale, ids, labels, lengths, result, perturb, gen, tag):
    """Central differences of the f64 loss vs autograd, on LoRA entries and (clean pass) attn-out taps."""
    h = 1e-5
    B, T = ids.shape
    D = cfg["hidden_size"]

    def loss_with(lora, taps):
        logits, _ = ref.forward(cfg, W64, lora, scale, ids, lengths, perturb=taps)
        return causal_lm_loss(logits, labels).item()

    base_taps = perturb if perturb is not None else [torch.zeros(B * T, D, dtype=torch.float64)
                                                     for _ in range(cfg["num_hidden_layers"])]
    keys = list(lora32)
    # Llama: q (layer 0), o, up, down (last layer); OPT: q (layer 0), out_proj, fc2, fc2 (last layer)
    for key in (keys[0], keys[3], keys[5], keys[-1]):
        for which in (0, 1):
            Lp, Lm = lora64(lora32), lora64(lora32)
            shape = Lp[key][which].shape
            idx = tuple(int(torch.randint(s, (1,), generator=gen)) for s in shape)
            Lp[key][which][idx] += h
            Lm[key][which][idx] -= h
            fd = (loss_with(Lp, base_taps) - loss_with(Lm, base_taps)) / (2 * h)
            name = key + (".lora_A.weight" if which == 0 else ".lora_B.weight")
            g = result["lora_grads"][name][idx].item()
            # f64 central difference: truncation ~h^2, rounding ~1e-16/h
            assert abs(fd - g) <= 1e-8 + 1e-6 * abs(g), f"{tag} fd {name}{idx}: {fd} vs {g}"
    if perturb is None:
        for l in range(cfg["num_hidden_layers"]):
            for row in (0, T + 2):  # a position in row 0 and one in row 1
                col = int(torch.randint(D, (1,), generator=gen))
                tp = [t.clone() for t in base_taps]
                tm = [t.clone() for t in base_taps]
                tp[l][row, col] += h
                tm[l][row, col] -= h
                fd = (loss_with(lora64(lora32), tp) - loss_with(lora64(lora32), tm)) / (2 * h)
                g = result["attn_grads"][l][row, col].item()
                assert abs(fd - g) <= 1e-8 + 1e-6 * abs(g), f"{tag} fd attn_out.{l}[{row},{col}]: {fd} vs {g}"


def run_checks(ref, cfg, W64, lora32, scale, ids, labels, lengths, clean, pert, e):
    gen = torch.Generator().manual_seed(99)
    if ref is llama_ref:
        check_components(cfg, gen)
    else:
        check_opt_components(cfg, gen)
    check_model(ref, cfg, W64, lora32, scale, ids, labels, lengths, clean)
    fd_check(ref, cfg, W64, lora32, scale, ids, labels, lengths, clean, None, gen, "clean")
    fd_check(ref, cfg, W64, lora32, scale, ids, labels, lengths, pert, e, gen, "vaccine")
    norm = math.sqrt(sum((x * x).sum().item() for x in e))
    assert abs(norm - 2.0) < 1e-6, f"perturbation norm {norm} != rho"
    assert pert["loss"].item() > clean["loss"].item(), "a gradient-direction perturbation should raise the loss"
