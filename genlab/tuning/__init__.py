"""Fine-tuning: one visible training loop, methods registered by name.

Public API (imported on first use):

- ``tune(model, task, method, method_cfg, TrainConfig(...), out_dir)`` — the whole run: data, method,
  training loop, adapter, test metrics, forgetting; returns ``TuneResult``.
- ``TrainConfig`` — the loop's hyper-parameters (one dataclass for CLI, YAML and Python).
- ``train(model, tokenizer, kind, train_set, val_set, cfg, out_dir, objective=...)`` — the loop alone;
  ``TrainResult``. ``on_step`` receives a ``LoopState`` after each optimizer step.
- ``METHODS``, ``param_report`` — the method registry (full, selective, lora, adapter, prompt-tuning,
  ia3, prefix) and trainable-parameter counts.

Loading, switching and merging the adapters it writes: ``genlab.adapters``.
"""

from genlab._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "TuneResult": "genlab.tuning.api",
    "tune": "genlab.tuning.api",
    "TrainConfig": "genlab.tuning.config",
    "train": "genlab.tuning.loop",
    "METHODS": "genlab.tuning.methods",
    "param_report": "genlab.tuning.methods",
    "TrainResult": "genlab.tuning.bookkeeping",
    "LoopState": "genlab.tuning.bookkeeping",
    "Objective": "genlab.tuning.objective",
})
