"""genlab: carry a language model through the generative-AI project lifecycle.

Every command of the ``genlab`` CLI is a function here. A model argument is a name
(built-in, local folder, ``.gguf`` file or hub id) or a model already loaded with
``load``; nothing prints unless asked.

    import genlab
    lm = genlab.load("smollm2-135m-instruct")
    genlab.generate(lm, ["Why is the sky blue?"], genlab.GenerationConfig(max_new_tokens=32), chat=True)
    genlab.evaluate(lm, "support-summary", n=50)
    genlab.tune("smollm2-135m-instruct", "support-summary", "lora", {"r": 8}, genlab.TrainConfig(), "runs/lora")

Public API (imported on first use):

- models:     ``load``, ``resolve``, ``DEFAULT_MODEL``                    (``genlab.models``)
- generation: ``generate``, ``GenerationConfig``                         (``genlab.generation``)
- tasks:      ``load_task``, ``list_tasks``                               (``genlab.tasks``)
- evaluation: ``evaluate``, ``EvalResult``, ``compare_runs``              (``genlab.evaluation``)
- tuning:     ``tune``, ``TrainConfig``                               (``genlab.tuning``)
- adapters:   ``load_adapter``, ``merge``                             (``genlab.adapters``)
- lifecycle:  ``run_recipe``, ``load_recipe``                             (``genlab.lifecycle``)
- holistic:   ``run_suite``                                               (``genlab.holistic``)
- errors:     ``GenlabError``, ``ConfigError``, ``DataError``             (``genlab.errors``)
"""

__version__ = "0.1.0"

from genlab._lazy import exports  # noqa: E402

__getattr__, __dir__, __all__ = exports(__name__, {
    "load": "genlab.models", "resolve": "genlab.models", "DEFAULT_MODEL": "genlab.models",
    "generate": "genlab.generation", "GenerationConfig": "genlab.generation",
    "load_task": "genlab.tasks", "list_tasks": "genlab.tasks",
    "evaluate": "genlab.evaluation", "EvalResult": "genlab.evaluation", "compare_runs": "genlab.evaluation",
    "tune": "genlab.tuning", "TrainConfig": "genlab.tuning",
    "load_adapter": "genlab.adapters", "merge": "genlab.adapters",
    "run_recipe": "genlab.lifecycle", "load_recipe": "genlab.lifecycle",
    "run_suite": "genlab.holistic",
    "GenlabError": "genlab.errors", "ConfigError": "genlab.errors", "DataError": "genlab.errors",
})
