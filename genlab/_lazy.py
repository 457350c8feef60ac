"""Lazy package exports: ``from genlab.evaluation import evaluate`` imports torch only when used.

    __getattr__, __dir__, __all__ = exports(__name__, {"evaluate": "genlab.evaluation.task_eval", ...})

``__all__`` and ``dir()`` list the public API without importing it, so ``help(package)``
and tab completion show what the package offers.
"""

from __future__ import annotations

import importlib
import types
from typing import Any, Callable


class _Package(types.ModuleType):
    """Keeps an exported function whose name is also a submodule's (``generation.generate``): importing
    the submodule would otherwise replace the function with the module on the package."""

    _shadowed: frozenset = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._shadowed and isinstance(value, types.ModuleType):
            return  # the submodule stays importable through sys.modules
        super().__setattr__(name, value)


def exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    module = importlib.import_module(package)
    module.__class__ = _Package
    module._shadowed = frozenset(n for n, where in names.items() if where == f"{package}.{n}")

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            setattr(module, name, value)  # the next lookup is a plain attribute
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(names))

    return __getattr__, __dir__, sorted(names)
