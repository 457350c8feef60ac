"""Multiple choice for encoders with a classification head (``genlab tune --head classification``).

An encoder cannot score continuations, so each request's prompt goes through the
head once, and its logits over the trained labels become the choices' scores:

    logprob(choice_i) = log softmax_{j ∈ choices} z_j,   z = head(prompt) (B, num_labels)

restricted to the request's own choices (a label the task does not offer gets no
mass). ``acc`` then is the head's accuracy over the task's choices; the result is
a ``ChoiceScores`` like the log-likelihood path's, so metrics and calibration apply.
"""

from __future__ import annotations

from typing import Sequence

import torch

from genlab.errors import GenlabError
from genlab.evaluation.metrics.accuracy import ChoiceScores
from genlab.runtime import Precision, autocast


def head_labels(lm) -> list[str] | None:
    """The labels of ``lm``'s classification head, in logit order; None for a bare encoder."""
    state = getattr(lm, "adapter_state", None)
    model = state.base if state is not None else lm.model
    if not type(model).__name__.endswith("ForSequenceClassification"):
        return None
    id2label = model.config.id2label
    return [str(id2label[i]) for i in range(len(id2label))]


def no_head_error(lm) -> GenlabError:
    return GenlabError(f"{lm.name} is an encoder without a classification head: it cannot score answer choices",
                       hint=f"train one: genlab tune -m {lm.name} --task TASK --head classification, "
                            "then genlab eval --adapter RUN/adapter")


@torch.inference_mode()
def classify_choices(lm, requests: Sequence, *, batch_size: int = 16, precision: Precision = "auto",
                     progress=None) -> list[ChoiceScores]:
    """Per-choice log-probabilities from the classification head for each request (bare choices)."""
    labels = head_labels(lm)
    if labels is None:
        raise no_head_error(lm)
    columns = [_columns(labels, r) for r in requests]
    tok, model = lm.tokenizer, lm.model
    model.eval()
    out: list[ChoiceScores] = []
    for k in range(0, len(requests), batch_size):
        chunk = requests[k:k + batch_size]
        logits = _head_logits(model, tok, [r.prompt for r in chunk], lm.context_window, precision, lm.device)
        for i, r in enumerate(chunk):
            lp = torch.log_softmax(logits[i, columns[k + i]].double(), -1)
            out.append(ChoiceScores(logprobs=lp.tolist(), choices=list(r.choices), num_tokens=[1] * len(r.choices)))
        if progress:
            progress(len(chunk))
    return out


def _columns(labels: list[str], request) -> list[int]:
    """The head's logit column of each of the request's choices."""
    where = {label.strip(): j for j, label in enumerate(labels)}
    missing = [c for c in request.choices if c.strip() not in where]
    if missing:
        raise GenlabError(f"the classification head has no label {missing[0].strip()!r} (doc {request.doc_id}); "
                          f"its labels are {labels}",
                          hint="train the head on data with every answer choice (more --n-train), or on this task")
    return [where[c.strip()] for c in request.choices]


def _head_logits(model, tok, prompts: list[str], max_len: int, precision, device) -> torch.Tensor:
    """(B, num_labels); prompts are cut from the left as training cuts them (genlab.tuning.data.encode)."""
    ids = [tok(p)["input_ids"][-max_len:] for p in prompts]
    T = max(len(x) for x in ids)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    input_ids = torch.full((len(ids), T), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), T), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, :len(x)] = torch.tensor(x)
        mask[i, :len(x)] = 1
    with autocast(precision, device):
        return model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits.float()
