"""What a results.json records about the model and the software that produced it."""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("genlab", "torch", "transformers", "peft", "accelerate", "rouge-score", "sacrebleu", "numpy", "tokenizers")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@functools.cache
def git_hash() -> str | None:
    """The commit of the genlab checkout in use (``+dirty`` with local changes), if any."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if head.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def model_title(model: dict[str, Any]) -> str:
    """The model as a title names it: ``name + lora on reviews (runs/lora/adapter)`` when an adapter is on."""
    from genlab.adapters import describe

    on = [a for a in model.get("adapters") or [] if isinstance(a, dict) and a.get("active", True)]
    return " + ".join([str(model.get("name"))] + [describe(a) for a in on])


def versions() -> dict[str, Any]:
    import torch

    return {"packages": package_versions(), "git": git_hash(), "python": platform.python_version(),
            "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
            "device": str(torch.device("cuda" if torch.cuda.is_available() else "cpu"))}


def model_info(lm) -> dict[str, Any]:
    from genlab.adapters import adapter_records
    from genlab.evaluation.cache import weights_fingerprint

    return {"name": lm.name, "hash": lm.model_hash, "source": getattr(lm, "source", None),
            "kind": lm.kind, "adapters": adapter_records(lm),
            "weights_fingerprint": weights_fingerprint(lm.model), "parameters": lm.num_parameters()}
