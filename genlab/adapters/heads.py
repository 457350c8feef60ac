"""Task heads on a base model: today one, ``classification`` (a sequence-classification model)."""

from __future__ import annotations

import dataclasses

from genlab.errors import ConfigError


def with_head(lm, head: str | None, labels):
    """``lm`` with its bare encoder swapped for a sequence-classification model over ``labels``."""
    if head is None:
        return lm
    if head != "classification":
        raise ConfigError(f"unknown head {head!r}", where="--head", hint="the only head is `classification`")
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its LOAD REPORT says the head is new: we know, we are adding it
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            lm.path, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)})
    finally:
        hf_logging.set_verbosity(before)
    if lm.tokenizer.pad_token_id is not None:
        model.config.pad_token_id = lm.tokenizer.pad_token_id
    return dataclasses.replace(lm, model=model.to(lm.device).eval())
