"""The lifecycle run: one recipe from zero-shot to fine-tuned, with a report."""

from genlab.lifecycle.execute import StageContext, StageOutcome, run_recipe, stage_dir
from genlab.lifecycle.recipe import Recipe, Stage, load_recipe, recipe_from_dict, recipe_from_yaml

__all__ = ["Recipe", "Stage", "StageContext", "StageOutcome", "load_recipe", "recipe_from_dict", "recipe_from_yaml",
           "run_recipe", "stage_dir"]
