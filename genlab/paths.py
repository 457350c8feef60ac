"""Where genlab keeps its caches: ``$GENLAB_HOME`` (default ``~/.cache/genlab``)."""

from __future__ import annotations

import os
from pathlib import Path


def genlab_home() -> Path:
    return Path(os.environ.get("GENLAB_HOME", Path.home() / ".cache" / "genlab")).expanduser()


def models_dir() -> Path:
    return genlab_home() / "models"


def cache_dir(name: str) -> Path:
    return genlab_home() / name
