"""Built-in recipes shipped with the package (``genlab run quickstart``)."""

from __future__ import annotations

from pathlib import Path

RECIPES = Path(__file__).parent / "recipes"


def builtin_recipe_path(name: str) -> Path | None:
    path = RECIPES / f"{name}.yaml"
    return path if path.is_file() else None


def builtin_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))
