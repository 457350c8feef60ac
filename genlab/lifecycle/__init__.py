"""The lifecycle run: one recipe from zero-shot to fine-tuned, with a report."""

from genlab.lifecycle.recipe import Recipe, Stage, load_recipe, recipe_from_dict, recipe_from_yaml
from genlab.lifecycle.execute import StageOutcome, run_recipe

__all__ = ["Recipe", "Stage", "StageOutcome", "load_recipe", "recipe_from_dict", "recipe_from_yaml", "run_recipe"]
