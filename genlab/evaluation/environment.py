"""What a results.json records about the model (the software and run: ``genlab.provenance``)."""

from __future__ import annotations

from typing import Any


def model_title(model: dict[str, Any]) -> str:
    """The model as a title names it: ``name + lora on reviews (runs/lora/adapter)`` when an adapter is on."""
    from genlab.adapters import describe

    on = [a for a in model.get("adapters") or [] if isinstance(a, dict) and a.get("active", True)]
    return " + ".join([str(model.get("name"))] + [describe(a) for a in on])


def model_info(lm) -> dict[str, Any]:
    from genlab.adapters import adapter_records
    from genlab.evaluation.cache import weights_fingerprint

    return {"name": lm.name, "hash": lm.model_hash, "source": getattr(lm, "source", None),
            "kind": lm.kind, "adapters": adapter_records(lm),
            "weights_fingerprint": weights_fingerprint(lm.model), "parameters": lm.num_parameters()}
