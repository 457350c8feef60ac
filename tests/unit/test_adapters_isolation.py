"""Loading and switching adapters never imports the trainer (checked in a clean subprocess).

transformers imports accelerate whenever it loads a model (``core_model_loading``),
so the check is on genlab's own modules: nothing of the trainer (``genlab.tuning``,
whose loop drives accelerate), the lifecycle or the CLI; peft only once a peft
adapter loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from adapter_helpers import nudged_adapter

# formats without peft first: peft must not be imported by then. peft keeps one adapter
# type per model, so each later peft type goes on a fresh copy of the base
KINDS = [("adapter", {"bottleneck": 8}), ("selective", {"last_k": 1}), ("full", {}),
         ("lora", {"r": 4}), ("ia3", {}), ("prompt-tuning", {"num_virtual_tokens": 4}), ("prefix", {})]
SHARED = {"adapter", "selective", "full", "lora"}  # switched between on one base

CHILD = r"""
import json, sys
import torch
sys.path.insert(0, sys.argv[3])
from adapter_helpers import logits
from genlab.adapters import load_adapter, set_adapter, BASE
from genlab.models import load

jobs, shared = json.loads(sys.argv[1]), json.loads(sys.argv[4])
lm = load(sys.argv[2], precision="fp32")
base = logits(lm)
out = {"matches": {}}
for method, path, want in jobs:
    if method == "lora":
        out["before_peft"] = sorted(m for m in sys.modules if m.split(".")[0] in ("genlab", "accelerate", "peft"))
    load_adapter(lm if method in shared else load(sys.argv[2], precision="fp32"), path, method)
for method, path, want in jobs:
    if method in shared:
        set_adapter(lm, method)
        got = logits(lm)
    else:
        got = logits(load_adapter(load(sys.argv[2], precision="fp32"), path, method))
    out["matches"][method] = bool(torch.allclose(got, torch.load(want), rtol=1e-5, atol=1e-5))
set_adapter(lm, BASE)
out["base_restored"] = bool(torch.equal(logits(lm), base))
out["modules"] = sorted(m for m in sys.modules if m.split(".")[0] == "genlab")
print(json.dumps(out))
"""


def test_loading_every_kind_imports_no_training_code(tiny_causal_dir, tmp_path):
    jobs = []
    for i, (method, opts) in enumerate(KINDS):
        path, want = nudged_adapter(tiny_causal_dir, method, opts, tmp_path / method, seed=i)
        torch.save(want, tmp_path / f"{method}.pt")
        jobs.append((method, str(path), str(tmp_path / f"{method}.pt")))
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(jobs), str(tiny_causal_dir), str(here),
                           json.dumps(sorted(SHARED))],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["matches"] == {m: True for m, _ in KINDS}
    assert out["base_restored"]
    assert "genlab.adapters" in out["modules"]
    training = [m for m in out["modules"]
                if m.startswith(("genlab.tuning", "genlab.lifecycle", "genlab.cli", "genlab.holistic"))]
    assert training == [], training
    assert not [m for m in out["before_peft"] if m.startswith("peft")], out["before_peft"]
