#!/usr/bin/python3
"""Generate the whole-model golden fixtures (test/fixtures/golden, golden_qwen, golden_opt).

Run from the repo root:  /usr/bin/python3 test/reference/golden.py
Weights are drawn as float32 from fixed seeds and stored as F32; every reference value is computed
in float64 from exactly those f32 weights and then rounded to f32 for storage.
"""
import json
import math
import os
import sys

import torch

sys.dont_write_bytecode = True  # keep test/reference free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402
import opt_ref  # noqa: E402
from llama_ref import causal_lm_loss  # noqa: E402
from ref_checks import run_checks  # noqa: E402
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VACCINE_RHO = 2.0
VACCINE_EPS = 1e-7

LLAMA = dict(
    name="golden", family="llama", seed=1234, arch="LlamaForCausalLM", model_type="llama",
    vocab_size=96, hidden_size=32, intermediate_size=88, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-5,
    rope_theta=10000.0, max_position_embeddings=64, tie_word_embeddings=False, attention_bias=False, embed_std=1.0,
    lengths=[11, 8, 5], prompt_lengths=[4, 3, 2], T=11, r=4, alpha=8,
)
QWEN = dict(
    name="golden_qwen", family="llama", seed=4321, arch="Qwen2ForCausalLM", model_type="qwen2",
    vocab_size=64, hidden_size=16, intermediate_size=40, num_hidden_layers=2,
    num_attention_heads=2, num_key_value_heads=1, head_dim=8, rms_norm_eps=1e-6,
    rope_theta=1000000.0, max_position_embeddings=32, tie_word_embeddings=True, attention_bias=True, embed_std=0.5,
    lengths=[7, 4], prompt_lengths=[2, 1], T=7, r=2, alpha=6,
)
# OPT with project_in/out (word_embed_proj_dim 16 != hidden_size 24, as OPT-350m's 512 vs 1024) and
# the config fields a real OPT checkpoint carries. Its weights are stored as the facebook/opt-*
# checkpoints name them, decoder.* (without transformers' model. prefix), with the head tied.
OPT = dict(
    name="golden_opt", family="opt", seed=2468, arch="OPTForCausalLM", model_type="opt",
    vocab_size=80, hidden_size=24, word_embed_proj_dim=16, ffn_dim=56, num_hidden_layers=2,
    num_attention_heads=3, max_position_embeddings=20, embed_std=0.4, bos=2,
    lengths=[9, 6, 3], prompt_lengths=[3, 2, 1], T=9, r=4, alpha=8,
)


def hf_config(spec):
    if spec["family"] == "opt":
        return opt_hf_config(spec)
    cfg = {
        "architectures": [spec["arch"]], "model_type": spec["model_type"],
        "vocab_size": spec["vocab_size"], "hidden_size": spec["hidden_size"],
        "intermediate_size": spec["intermediate_size"], "num_hidden_layers": spec["num_hidden_layers"],
        "num_attention_heads": spec["num_attention_heads"], "num_key_value_heads": spec["num_key_value_heads"],
        "head_dim": spec["head_dim"], "rms_norm_eps": spec["rms_norm_eps"], "rope_theta": spec["rope_theta"],
        "max_position_embeddings": spec["max_position_embeddings"],
        "tie_word_embeddings": spec["tie_word_embeddings"], "hidden_act": "silu",
        "attention_bias": spec["attention_bias"], "attention_dropout": 0.0,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
    }
    if spec["model_type"] == "qwen2":
        # Real Qwen2 configs carry no attention_bias key (the bias is implied by the architecture);
        # it is kept here too, but a loader should not depend on it.
        cfg.update({"use_sliding_window": False, "sliding_window": spec["max_position_embeddings"],
                    "max_window_layers": spec["num_hidden_layers"]})
    return cfg


def opt_hf_config(spec):
    return {
        "architectures": [spec["arch"]], "model_type": spec["model_type"],
        "vocab_size": spec["vocab_size"], "hidden_size": spec["hidden_size"],
        "word_embed_proj_dim": spec["word_embed_proj_dim"], "ffn_dim": spec["ffn_dim"],
        "num_hidden_layers": spec["num_hidden_layers"], "num_attention_heads": spec["num_attention_heads"],
        "max_position_embeddings": spec["max_position_embeddings"], "do_layer_norm_before": True,
        "_remove_final_layer_norm": False, "activation_function": "relu", "enable_bias": True,
        "layer_norm_elementwise_affine": True, "dropout": 0.1, "attention_dropout": 0.0, "layerdrop": 0.0,
        "init_std": 0.02, "tie_word_embeddings": True, "pad_token_id": 1, "bos_token_id": 2, "eos_token_id": 2,
        "torch_dtype": "float32",
    }


def module_shape(cfg, target):
    if cfg["model_type"] == "opt":
        D, F = cfg["hidden_size"], cfg["ffn_dim"]
        return {"q_proj": (D, D), "k_proj": (D, D), "v_proj": (D, D), "out_proj": (D, D),
                "fc1": (F, D), "fc2": (D, F)}[target]  # (out, in)
    D, I = cfg["hidden_size"], cfg["intermediate_size"]
    q_out = cfg["num_attention_heads"] * cfg["head_dim"]
    kv_out = cfg["num_key_value_heads"] * cfg["head_dim"]
    return {  # (out, in)
        "q_proj": (q_out, D), "k_proj": (kv_out, D), "v_proj": (kv_out, D), "o_proj": (D, q_out),
        "gate_proj": (I, D), "up_proj": (I, D), "down_proj": (D, I),
    }[target]


def reference(cfg):
    """The family's reference module: llama_ref or opt_ref."""
    return opt_ref if cfg["model_type"] == "opt" else llama_ref


def make_base_weights(cfg, gen, embed_std):
    if cfg["model_type"] == "opt":
        return make_opt_weights(cfg, gen, embed_std)

    def randn(*shape, std):
        return torch.randn(*shape, generator=gen, dtype=torch.float32) * std

    W = {"model.embed_tokens.weight": randn(cfg["vocab_size"], cfg["hidden_size"], std=embed_std)}
    D = cfg["hidden_size"]
    for l in range(cfg["num_hidden_layers"]):
        # norm weights away from 1 so a missing or misplaced norm weight shows up
        W[f"model.layers.{l}.input_layernorm.weight"] = 1.0 + randn(D, std=0.1)
        W[f"model.layers.{l}.post_attention_layernorm.weight"] = 1.0 + randn(D, std=0.1)
        for t in llama_ref.TARGETS:
            out_f, in_f = module_shape(cfg, t)
            W[llama_ref.module_name(l, t) + ".weight"] = randn(out_f, in_f, std=0.1)
            if cfg["attention_bias"] and t in ("q_proj", "k_proj", "v_proj"):
                W[llama_ref.module_name(l, t) + ".bias"] = randn(out_f, std=0.1)
    W["model.norm.weight"] = 1.0 + randn(D, std=0.1)
    if not cfg["tie_word_embeddings"]:
        W["lm_head.weight"] = randn(cfg["vocab_size"], D, std=0.1)
    return W


def make_opt_weights(cfg, gen, embed_std):
    def randn(*shape, std):
        return torch.randn(*shape, generator=gen, dtype=torch.float32) * std

    D, E = cfg["hidden_size"], cfg["word_embed_proj_dim"]
    d = "model.decoder."
    W = {d + "embed_tokens.weight": randn(cfg["vocab_size"], E, std=embed_std),
         d + "embed_positions.weight": randn(cfg["max_position_embeddings"] + opt_ref.POSITION_OFFSET, D, std=0.5)}
    if E != D:
        W[d + "project_in.weight"] = randn(D, E, std=0.3)
        W[d + "project_out.weight"] = randn(E, D, std=0.3)

    def norm(name):
        # weights away from 1 and biases away from 0, so a missing or misplaced one shows up
        W[name + ".weight"] = 1.0 + randn(D, std=0.1)
        W[name + ".bias"] = randn(D, std=0.1)

    for l in range(cfg["num_hidden_layers"]):
        norm(f"{d}layers.{l}.self_attn_layer_norm")
        norm(f"{d}layers.{l}.final_layer_norm")
        for t in opt_ref.TARGETS:
            out_f, in_f = module_shape(cfg, t)
            W[opt_ref.module_name(l, t) + ".weight"] = randn(out_f, in_f, std=0.1)
            W[opt_ref.module_name(l, t) + ".bias"] = randn(out_f, std=0.1)
    norm(d + "final_layer_norm")
    return W


def checkpoint_name(cfg, name):
    """The name a weight has in the fixture's model.safetensors: OPT's as facebook/opt-* store them (decoder.*)."""
    return name[len("model."):] if cfg["model_type"] == "opt" and name.startswith("model.decoder.") else name


def make_lora(cfg, r, gen):
    # A as PEFT's kaiming_uniform(a=sqrt(5)) init; B non-zero (PEFT uses zeros, which would make dA = 0).
    lora = {}
    ref = reference(cfg)
    for l in range(cfg["num_hidden_layers"]):
        for t in ref.TARGETS:
            out_f, in_f = module_shape(cfg, t)
            bound = 1.0 / math.sqrt(in_f)
            A = (torch.rand(r, in_f, generator=gen, dtype=torch.float32) * 2 - 1) * bound
            B = torch.randn(out_f, r, generator=gen, dtype=torch.float32) * 0.1
            lora[ref.peft_name(l, t)] = (A, B)
    return lora


def make_batch(spec, gen):
    B, T, V = len(spec["lengths"]), spec["T"], spec["vocab_size"]
    ids = torch.zeros(B, T, dtype=torch.long)  # pad id 0
    labels = torch.full((B, T), -100, dtype=torch.long)
    for b, (n, p) in enumerate(zip(spec["lengths"], spec["prompt_lengths"])):
        ids[b, 0] = spec.get("bos", 1)
        ids[b, 1:n] = torch.randint(3, V, (n - 1,), generator=gen)
        labels[b, p:n] = ids[b, p:n]
    return ids, labels, torch.tensor(spec["lengths"], dtype=torch.long)


def to64(W):
    return {k: v.double() for k, v in W.items()}


def lora_leaves(lora, dtype):
    return {k: (A.to(dtype).requires_grad_(True), B.to(dtype).requires_grad_(True)) for k, (A, B) in lora.items()}


def run_pass(cfg, W64, lora32, scale, ids, labels, lengths, perturb=None):
    """One forward+backward in W64's dtype. Returns loss, logits, attn_outs, attn-out grads (None if perturb given), LoRA grads."""
    B, T = ids.shape
    D = cfg["hidden_size"]
    dtype = next(iter(W64.values())).dtype
    leaves = lora_leaves(lora32, dtype)
    if perturb is None:
        # zero leaves on the attention-block output: their grad is exactly dL/d(attn_out)
        taps = [torch.zeros(B * T, D, dtype=dtype, requires_grad=True) for _ in range(cfg["num_hidden_layers"])]
    else:
        taps = [p.detach().to(dtype) for p in perturb]
    logits, attn_outs = reference(cfg).forward(cfg, W64, leaves, scale, ids, lengths, perturb=taps)
    loss = causal_lm_loss(logits, labels)
    params = [t for pair in leaves.values() for t in pair]
    wrt = params + (taps if perturb is None else [])
    grads = torch.autograd.grad(loss, wrt)
    lora_grads = {}
    for i, key in enumerate(leaves):
        lora_grads[key + ".lora_A.weight"] = grads[2 * i]
        lora_grads[key + ".lora_B.weight"] = grads[2 * i + 1]
    attn_grads = list(grads[len(params):]) if perturb is None else None
    return dict(loss=loss.detach(), logits=logits.detach(), attn_outs=[a.detach() for a in attn_outs],
                attn_grads=attn_grads, lora_grads=lora_grads)


def vaccine_perturbation(attn_grads, rho):
    # one L2 norm over all layers and the whole batch
    norm = torch.sqrt(sum((g * g).sum() for g in attn_grads))
    return [rho * g / (norm + VACCINE_EPS) for g in attn_grads]


def collect(cfg, clean, pert, e, B, T, V):
    expected = {"logits": clean["logits"].reshape(B * T, V), "loss": clean["loss"].reshape(1),
                "vaccine.perturbed_loss": pert["loss"].reshape(1)}
    for l in range(cfg["num_hidden_layers"]):
        expected[f"attn_out.{l}"] = clean["attn_outs"][l].reshape(B * T, -1)
        expected[f"grad_attn_out.{l}"] = clean["attn_grads"][l]
        expected[f"vaccine.perturbation.{l}"] = e[l]
    for name, g in clean["lora_grads"].items():
        expected["grad." + name] = g
    for name, g in pert["lora_grads"].items():
        expected["vaccine.grad." + name] = g
    return expected


def describe(expected, expected32):
    rows = []
    for name in sorted(expected):
        t = expected[name]
        ref = t.abs().max().item()
        rel = (expected32[name].double() - t).abs().max().item() / ref
        rows.append(f"| `{name}` | {list(t.shape)} | {ref:.6g} | {rel:.1e} |")
    return "\n".join(rows)


def build_fixture(spec):
    cfg = hf_config(spec)
    gen = torch.Generator().manual_seed(spec["seed"])
    W32 = make_base_weights(cfg, gen, spec["embed_std"])
    lora32 = make_lora(cfg, spec["r"], gen)
    ids, labels, lengths = make_batch(spec, gen)
    B, T, V = ids.shape[0], ids.shape[1], cfg["vocab_size"]
    scale = spec["alpha"] / spec["r"]
    W64 = to64(W32)

    clean = run_pass(cfg, W64, lora32, scale, ids, labels, lengths)
    e = vaccine_perturbation(clean["attn_grads"], VACCINE_RHO)
    pert = run_pass(cfg, W64, lora32, scale, ids, labels, lengths, perturb=e)

    run_checks(reference(cfg), cfg, W64, lora32, scale, ids, labels, lengths, clean, pert, e)
    # the same two passes in float32 torch: how far a plain f32 implementation lands from the reference
    clean32 = run_pass(cfg, W32, lora32, scale, ids, labels, lengths)
    e32 = vaccine_perturbation(clean32["attn_grads"], VACCINE_RHO)
    pert32 = run_pass(cfg, W32, lora32, scale, ids, labels, lengths, perturb=e32)

    expected = collect(cfg, clean, pert, e, B, T, V)
    expected32 = collect(cfg, clean32, pert32, e32, B, T, V)

    out_dir = os.path.join(ROOT, "test", "fixtures", spec["name"])
    os.makedirs(os.path.join(out_dir, "adapter"), exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    stored = {checkpoint_name(cfg, k): v for k, v in W32.items()}
    write_safetensors(os.path.join(out_dir, "model.safetensors"), stored, {"format": "pt"})
    adapter = {}
    for key, (A, Bm) in lora32.items():
        adapter[key + ".lora_A.weight"] = A
        adapter[key + ".lora_B.weight"] = Bm
    write_safetensors(os.path.join(out_dir, "adapter", "adapter_model.safetensors"), adapter, {"format": "pt"})
    adapter_cfg = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": spec["r"], "lora_alpha": spec["alpha"],
        "lora_dropout": 0.0, "target_modules": list(reference(cfg).TARGETS), "bias": "none", "fan_in_fan_out": False,
        "use_rslora": False, "inference_mode": True, "base_model_name_or_path": f"test/fixtures/{spec['name']}",
    }
    with open(os.path.join(out_dir, "adapter", "adapter_config.json"), "w") as f:
        json.dump(adapter_cfg, f, indent=2)
        f.write("\n")
    batch = {"B": B, "T": T, "ids": ids.reshape(-1).tolist(), "labels": labels.reshape(-1).tolist(),
             "lengths": lengths.tolist(), "pad_id": 0, "prompt_lengths": spec["prompt_lengths"]}
    with open(os.path.join(out_dir, "batch.json"), "w") as f:
        json.dump(batch, f)
        f.write("\n")
    write_safetensors(os.path.join(out_dir, "expected.safetensors"), expected,
                      {"precision": "float64 compute, stored f32", "vaccine_rho": VACCINE_RHO,
                       "vaccine_eps": VACCINE_EPS, "lora_scale": scale, "torch": torch.__version__})

    # round-trip: what the TS test will read is what was computed
    back = read_safetensors(os.path.join(out_dir, "expected.safetensors"))
    assert set(back) == set(expected)
    for k, v in expected.items():
        assert torch.equal(back[k], v.float()), k
    back_w = read_safetensors(os.path.join(out_dir, "model.safetensors"))
    assert all(torch.equal(back_w[checkpoint_name(cfg, k)], W32[k]) for k in W32)

    n_label = int((labels[:, 1:] != -100).sum())
    return cfg, expected, expected32, n_label, scale


README_HEAD = """# Golden whole-model fixtures

Generated by `/usr/bin/python3 test/reference/golden.py` (run from the repo root; deterministic, rewrites
`test/fixtures/golden/`, `test/fixtures/golden_qwen/` and `test/fixtures/golden_opt/`), with torch {torch} (CPU),
no `transformers`: the math is a plain-torch restatement of Hugging Face `LlamaForCausalLM` / `Qwen2ForCausalLM`
(`test/reference/llama_ref.py`) and `OPTForCausalLM` (`test/reference/opt_ref.py`) plus PEFT LoRA.
Safetensors files are written by hand (`test/reference/safetensors_io.py`).

**Precision:** base and LoRA weights are drawn as float32 (fixed seeds) and stored F32. Every reference
value is computed in **float64** from exactly those f32 weights, then rounded to F32 for storage.

**Self-checks run by the script (assertions, f64):** RoPE vs a complex-multiplication formulation;
attention vs a per-(row, head, query) loop with GQA indexing `kv = h // (H/KVH)`; repeat_kv indexing;
RMSNorm vs a norm-based formula; loss vs `F.cross_entropy(ignore_index=-100)` and a Python loop;
padding: every row run alone, unpadded, reproduces its valid-position logits, and changing the pad ids
changes nothing at valid positions; `torch.autograd.gradcheck` on a LoRA linear; central finite
differences of the full f64 model loss on LoRA A/B entries of several modules, on attention-output
taps (dL/d attn_out) and on the Vaccine second pass. For OPT: LayerNorm vs `F.layer_norm`, the position
rule worked out by hand, attention vs the loop, and the whole model against one with the loop attention and
`F.layer_norm`.

## Semantics (Llama; OPT's differences are listed in its section)

- Model: embedding; per layer `x += o_proj(attn(rmsnorm(x)))`, then `x += down(silu(gate(h)) * up(h))`,
  `h = rmsnorm(x)`; final norm; `lm_head` (separate in `golden/`, tied to `embed_tokens` in `golden_qwen/`).
  RMSNorm `w * x * rsqrt(mean(x^2) + eps)`. Rotate-half RoPE, `inv_freq = 1/theta^(arange(0,hd,2)/hd)`,
  positions `0..T-1`. Scores scaled by `1/sqrt(head_dim)`. GQA: query head h uses kv head `h // (H/KVH)`.
- Mask (right padding): key j visible to query i iff `j <= i` and `j < lengths[b]`. Padded query rows
  therefore still attend to the valid prefix, so logits at padded positions are well defined and stored.
- LoRA (PEFT, no dropout) on q,k,v,o,gate,up,down: `y = W x (+ b) + (lora_alpha/r) * B (A x)`,
  `A: [r, in]`, `B: [out, r]`, both non-zero.
- Loss: `logits[:, :-1]` vs `labels[:, 1:]`, mean cross-entropy over all positions with label != -100
  (one mean over the whole batch). `batch.json` labels are unshifted; -100 on the prompt and padding.
- `attn_out.{{l}}`: layer l's o_proj output incl. its LoRA, before the residual add. `grad_attn_out.{{l}}`:
  dL/d(attn_out.{{l}}) (zero on padded rows, which no loss term can reach).
- Vaccine: `e_l = rho * g_l / (sqrt(sum_l ||g_l||^2) + 1e-7)`, rho = {rho}, `g_l = grad_attn_out.{{l}}`
  (one norm over all layers and the whole batch); a second forward adds `e_l` to each layer's
  attention-block output (before the residual add); `vaccine.perturbed_loss` is its loss and
  `vaccine.grad.*` the LoRA gradients of that second pass (e is a constant there).
- Row-major flattening: `[B*T, ...]` tensors are row `b*T + t`.

## Files (per fixture directory)

- `config.json`: HF-style config. `model.safetensors`: base weights, HF names, F32.
- `adapter/adapter_model.safetensors`, `adapter/adapter_config.json`: the LoRA in PEFT format
  (`base_model.model.model.layers.{{i}}.self_attn.q_proj.lora_A.weight`, ... `mlp.down_proj.lora_B.weight`).
- `batch.json`: `{{B, T, ids (flat B*T), labels (flat, unshifted), lengths, pad_id, prompt_lengths}}`.
- `expected.safetensors`: the tensors below (F32). `grad.<peft name>` is dL/d of that adapter tensor.
"""


OPT_SEMANTICS = """OPT's model, as Hugging Face's `OPTForCausalLM` with `do_layer_norm_before` (eval mode: the config's
`dropout` 0.1 is a training-time setting the reference does not apply, nor does the engine):
`x = project_in(embed_tokens[ids]) + embed_positions[pos + 2]` with `pos` as HF derives it from the
attention mask (`cumsum(mask) * mask - 1`: token t at t, right padding at -1, i.e. table row 1); per layer
`x += out_proj(attn(LN(x)))`, then `x += fc2(relu(fc1(LN(x))))`; a final LN; `project_out`; the head tied
to `embed_tokens`. LayerNorm `(x - mean) / sqrt(var + 1e-5) * w + b` (biased variance). Every projection has
a bias. Scores scaled by `1/sqrt(head_dim)` (HF scales q after its bias: the same product). LoRA on
q,k,v,out_proj,fc1,fc2 (PEFT names `base_model.model.model.decoder.layers.{i}.self_attn.q_proj...`,
`...layers.{i}.fc1...`). `attn_out.{l}`: out_proj's output incl. its bias and LoRA, before the residual add
(the point Vaccine perturbs). `model.safetensors` names the weights `decoder.*`, as the facebook/opt-*
checkpoints do (transformers itself saves `model.decoder.*`); no `lm_head.weight` (tied). Mask, loss,
Vaccine and flattening as above.
"""


def describe_config(cfg):
    if cfg["model_type"] == "opt":
        return (f"{OPT_SEMANTICS}\nvocab {cfg['vocab_size']}, dim {cfg['hidden_size']}, word_embed_proj_dim "
                f"{cfg['word_embed_proj_dim']} (project_in/out), ffn {cfg['ffn_dim']}, {cfg['num_hidden_layers']} layers, "
                f"{cfg['num_attention_heads']} heads, {cfg['max_position_embeddings']} positions, "
                f"tied {cfg['tie_word_embeddings']}")
    return (f"vocab {cfg['vocab_size']}, dim {cfg['hidden_size']}, hidden {cfg['intermediate_size']}, "
            f"{cfg['num_hidden_layers']} layers, {cfg['num_attention_heads']} heads, "
            f"{cfg['num_key_value_heads']} kv heads, head_dim {cfg['head_dim']}, eps {cfg['rms_norm_eps']}, "
            f"theta {cfg['rope_theta']:g}, tied {cfg['tie_word_embeddings']}, q/k/v bias {cfg['attention_bias']}")


def main():
    torch.set_num_threads(1)  # fixed reduction order -> byte-identical output across runs
    parts = [README_HEAD.format(torch=torch.__version__, rho=VACCINE_RHO)]
    for spec in (LLAMA, QWEN, OPT):
        cfg, expected, expected32, n_label, scale = build_fixture(spec)
        parts.append(
            f"\n## `{spec['name']}/` ({spec['arch']})\n\n" + describe_config(cfg) +
            f"; batch B={len(spec['lengths'])}, T={spec['T']}, lengths {spec['lengths']}, prompt lengths "
            f"{spec['prompt_lengths']} ({n_label} loss tokens); LoRA r={spec['r']}, alpha={spec['alpha']} "
            f"(scale {scale:g}); seed {spec['seed']}.\n\n"
            "Max |value| per tensor is listed so a relative tolerance (max|a-ref|/max|ref|) can be judged; "
            "`f32 relErr` is max|a-ref|/max|ref| of the same computation done in float32 torch (both passes, "
            "including the f32 Vaccine perturbation), i.e. what an ordinary f32 implementation achieves.\n\n"
            "| name | shape | max abs | f32 relErr |\n|---|---|---|---|\n" + describe(expected, expected32) + "\n")
        print(f"{spec['name']}: loss {expected['loss'].item():.6f}, "
              f"perturbed {expected['vaccine.perturbed_loss'].item():.6f}, {len(expected)} tensors")
    with open(os.path.join(ROOT, "test", "fixtures", "golden", "README.md"), "w") as f:
        f.write("".join(parts))


if __name__ == "__main__":
    main()
