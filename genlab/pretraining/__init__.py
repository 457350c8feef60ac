"""Pre-training: objectives (causal, masked, span corruption), corpus packing, tokenizers, continued pre-training,
scaling-law fits.

Public API (imported on first use):

- ``PretrainConfig``, ``pretrain(cfg, TrainConfig(...), out_dir)`` — a new tiny model (or ``from_model``: continued
  pre-training) trained by ``genlab.tuning.train`` with a pre-training objective; ``PretrainResult``.
- ``load_documents``, ``split_documents``, ``pack`` — the corpus: sources, held-out split by document, packing.
- ``CausalLM``, ``MaskedLM``, ``SpanCorruption``, ``make_objective`` — the objectives (``genlab.tuning`` objectives).
- ``count_params``, ``decoder_forward_flops``, ``matmul_peak_tflops`` — compute accounting.
- ``run_grid``, ``fit_law``, ``ScalingFit`` — scaling laws (Chinchilla approach 3) from our own runs.
"""

from genlab._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "PretrainConfig": "genlab.pretraining.config",
    "pretrain": "genlab.pretraining.api",
    "PretrainResult": "genlab.pretraining.api",
    "load_documents": "genlab.pretraining.corpus",
    "split_documents": "genlab.pretraining.corpus",
    "pack": "genlab.pretraining.corpus",
    "CausalLM": "genlab.pretraining.objectives",
    "MaskedLM": "genlab.pretraining.objectives",
    "SpanCorruption": "genlab.pretraining.objectives",
    "make_objective": "genlab.pretraining.objectives",
    "count_params": "genlab.pretraining.flops",
    "decoder_forward_flops": "genlab.pretraining.flops",
    "matmul_peak_tflops": "genlab.pretraining.flops",
    "run_grid": "genlab.pretraining.scaling",
    "fit_law": "genlab.pretraining.scaling_fit",
    "ScalingFit": "genlab.pretraining.scaling_fit",
})
