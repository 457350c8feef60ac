"""Deployment optimization: quantize, distill, prune, export (GGUF); every technique ends in a trade-off record.

Public API (imported on first use):

- ``quantize_to(model, out, QuantizeConfig())`` — dynamic int8 Linear layers; the folder reloads through
  ``genlab.models.load`` (``quantize(lm)`` does it in memory).
- ``prune_to(model, out, PruneConfig(method="wanda", sparsity=0.5, pattern="unstructured"|"2:4"))``, or
  ``channels=0.3`` for structured MLP-channel pruning.
- ``distill_to(teacher, out, DistillConfig(), TrainConfig(...))`` — a student from every other block,
  trained on the teacher's logits through ``genlab.tuning.train`` (``DistillObjective``).
- ``export_to(model, "m.gguf", ExportConfig(type="q8_0"))`` — GGUF for llama.cpp / Ollama.
- ``TradeOff``, ``MeasureConfig``, ``measure``, ``compare_models`` — the trade-off record, table and picture.
"""

from genlab._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "quantize_to": "genlab.deploy.api",
    "prune_to": "genlab.deploy.api",
    "distill_to": "genlab.deploy.api",
    "export_to": "genlab.deploy.api",
    "QuantizeConfig": "genlab.deploy.quantize",
    "quantize": "genlab.deploy.quantize",
    "is_quantized": "genlab.deploy.quantize",
    "PruneConfig": "genlab.deploy.prune",
    "prune": "genlab.deploy.prune",
    "prune_mlp_channels": "genlab.deploy.prune",
    "DistillConfig": "genlab.deploy.distill",
    "DistillObjective": "genlab.deploy.distill",
    "ExportConfig": "genlab.deploy.gguf_export",
    "export_gguf": "genlab.deploy.gguf_export",
    "TradeOff": "genlab.deploy.tradeoff",
    "MeasureConfig": "genlab.deploy.tradeoff",
    "measure": "genlab.deploy.tradeoff",
    "compare_models": "genlab.deploy.compare",
})
