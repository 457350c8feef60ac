"""Where a result came from: the one provenance record every results file carries.

``results.json`` of ``genlab eval`` and ``genlab bench`` (key ``environment``) and the
``config.json`` of tuning, reward-model and PPO runs (key ``provenance``) hold the same
fields, so one reader serves them all:

    {"command": [...], "created": "2026-12-03T09:30:00Z", "git": "abc123+dirty", "python": "3.11.2",
     "platform": "Linux-...", "packages": {"torch": "2.13.0", ...}, "torch_threads": 2, "device": "cpu"}

``Provenance.from_json`` also reads the two older layouts (eval's ``environment``
without command/created, and tuning's top-level ``versions``/``git``/``created``).
"""

from __future__ import annotations

import dataclasses
import functools
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
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


@dataclass
class Provenance:
    command: list[str] = field(default_factory=list)
    created: str = ""
    git: str | None = None
    python: str = ""
    platform: str = ""
    packages: dict[str, str | None] = field(default_factory=dict)
    torch_threads: int | None = None
    device: str = ""

    @classmethod
    def capture(cls, command: list[str] | None = None) -> "Provenance":
        import torch

        return cls(command=list(sys.argv if command is None else command),
                   created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), git=git_hash(),
                   python=platform.python_version(), platform=platform.platform(), packages=package_versions(),
                   torch_threads=torch.get_num_threads(),
                   device=str(torch.device("cuda" if torch.cuda.is_available() else "cpu")))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Provenance":
        """This layout, or an older one: a run config's ``versions`` (python + packages) and top-level git/created."""
        data = dict(data or {})
        if "packages" not in data and isinstance(data.get("versions"), dict):
            versions = dict(data["versions"])
            data.setdefault("python", versions.pop("python", ""))
            data["packages"] = versions
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
