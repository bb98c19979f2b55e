"""Reads an adapter directory written by the engine the way PEFT would (adapter_config.json r and
lora_alpha; tensors by PEFT name, A [r, in], B [out, r]) and runs the independent f64 reference model
of test/reference/llama_ref.py with it. Prints the logits' max |diff| / max |ref| against the engine's.

usage: python3 peft_check.py MODEL_DIR ADAPTER_DIR BATCH_JSON ENGINE_LOGITS_F32_FILE
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from llama_ref import forward  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

model_dir, adapter_dir, batch_path, logits_path = sys.argv[1:5]
cfg = json.load(open(os.path.join(model_dir, "config.json")))
W = {k: v.double() for k, v in read_safetensors(os.path.join(model_dir, "model.safetensors")).items()}
acfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
assert acfg["peft_type"] == "LORA" and acfg["task_type"] == "CAUSAL_LM", acfg
tensors = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
lora = {}
for name, t in tensors.items():
    assert name.endswith(".lora_A.weight") or name.endswith(".lora_B.weight"), name
    key = name.rsplit(".lora_", 1)[0]
    lora.setdefault(key, [None, None])[0 if ".lora_A." in name else 1] = t.double()
for key, (A, B) in lora.items():
    assert A is not None and B is not None, key
    assert A.shape[0] == acfg["r"] and B.shape[1] == acfg["r"], (key, A.shape, B.shape)
    assert any(key.endswith(t) for t in acfg["target_modules"]), key
batch = json.load(open(batch_path))
ids = torch.tensor(batch["ids"]).view(batch["B"], batch["T"])
lengths = torch.tensor(batch["lengths"])
logits, _ = forward(cfg, W, {k: tuple(v) for k, v in lora.items()}, acfg["lora_alpha"] / acfg["r"], ids, lengths)
ref = logits.reshape(-1).numpy()
ours = np.fromfile(logits_path, dtype="<f4").astype(np.float64)
assert ours.shape == ref.shape, (ours.shape, ref.shape)
print(float(np.abs(ours - ref).max() / np.abs(ref).max()), len(lora))
