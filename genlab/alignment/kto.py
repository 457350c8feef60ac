"""KTO: alignment from unpaired feedback, a thumbs-up or thumbs-down per reply (Ethayarajh et al. 2024,
https://arxiv.org/abs/2402.01306; TRL's ``KTOTrainer``, LLaMA-Factory's ``stage: kto``).

Products collect "was this answer good?" far more often than two replies ranked side by side. KTO learns from
``prompt, completion, label`` rows (``label`` true: desirable). With ``r = log π(y|x) − log π_ref(y|x)`` (sums
over completion tokens) and a reference point ``z0``, the batch's KL estimate:

    z0 = max(0, mean over the batch of [log π(y'|x) − log π_ref(y'|x)])   (detached)
    desirable:    loss = λ_D · (1 − σ(β·(r − z0)))
    undesirable:  loss = λ_U · (1 − σ(β·(z0 − r)))

``y'`` is a mismatched completion: another row's reply to this row's prompt. TRL pairs each row with the reply
of its neighbour in the batch; here each row is paired once, before training, with the reply of the next row of
another prompt in a seeded shuffle of the training rows, so the reference log-probs of both rows are computed
once, before the first step, as DPO's are (``genlab.alignment.dpo``). ``z0`` is then the mean over the same
number of mismatched pairs as TRL's, drawn from the whole set rather than the batch.

Preference pairs work too: each becomes a desirable and an undesirable row (TRL's
``unpair_preference_dataset``). Rows are weighted so that λ_D·n_D / (λ_U·n_U) lies in [1, 4/3], the paper's
advice; a run outside it says so. Logged per step: loss, ``kl`` (z0), the implicit rewards β·r of desirable and
undesirable rows (``logps_chosen``/``logps_rejected`` are their log-ratios r), their difference
``reward_margin`` and ``reward_accuracy``: the share of rows on their side of z0.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from genlab.alignment.dpo import DPOExample, DPOObjective, sequence_logps
from genlab.alignment.preferences import PreferencePair
from genlab.errors import ConfigError, DataError
from genlab.tuning.data import encode


def kto_loss(policy: torch.Tensor, ref: torch.Tensor, policy_kl: torch.Tensor, ref_kl: torch.Tensor,
             desirable: torch.Tensor, beta: float, desirable_weight: float = 1.0,
             undesirable_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row losses (B,) and the reference point z0, from sequence log-probs (B,) of the rows and of their
    mismatched KL rows; ``desirable`` (B,) bool."""
    z0 = (policy_kl - ref_kl).mean().detach().clamp(min=0)
    ratio = policy - ref
    good = desirable_weight * (1 - torch.sigmoid(beta * (ratio - z0)))
    bad = undesirable_weight * (1 - torch.sigmoid(beta * (z0 - ratio)))
    return torch.where(desirable, good, bad), z0


@dataclass
class Feedback:
    """One reply and its label: ``desirable`` (a thumbs-up) or not."""

    prompt: str
    completion: str
    desirable: bool
    meta: dict[str, Any]


def unpaired(pairs: Sequence[PreferencePair]) -> list[Feedback]:
    """Each pair as its chosen reply (desirable) and its rejected one (undesirable)."""
    return [Feedback(p.prompt, text, good, p.meta) for p in pairs for text, good in ((p.chosen, True),
                                                                                      (p.rejected, False))]


LABEL_WORDS = {**dict.fromkeys(("true", "1", "yes", "good", "desirable", "up", "positive", "👍"), True),
               **dict.fromkeys(("false", "0", "no", "bad", "undesirable", "down", "negative", "👎"), False)}


def read_label(value: Any, where: str | None) -> bool:
    """A row's ``label``: a bool, 0/1, or true/false, yes/no, good/bad, desirable/undesirable, up/down,
    positive/negative, 👍/👎 (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in LABEL_WORDS:
        return LABEL_WORDS[value.strip().lower()]
    raise DataError(f'"label" must be true or false (1/0, yes/no, good/bad, up/down), got {value!r}', where=where)


@dataclass
class KTOExample(DPOExample):
    """A row as DPO's two-row layout: ``chosen`` holds the prompt and its reply, ``rejected`` the prompt and the
    mismatched reply used for z0 (so reference log-probs and batching are DPO's); ``desirable`` its label."""

    desirable: bool = True


def encode_feedback(rows: Sequence[Feedback], tokenizer, max_seq_len: int, seed: int = 0) -> list[KTOExample]:
    """Tokenize each row and its mismatched row: the reply of the next row, in a seeded shuffle, to another
    prompt (a row whose prompt all the others share keeps the next reply however)."""
    order = list(range(len(rows)))
    random.Random(f"kto:{seed}").shuffle(order)
    other = {}
    for k, i in enumerate(order):
        for step in range(1, len(order)):
            j = order[(k + step) % len(order)]
            if rows[j].prompt != rows[i].prompt:
                break
        else:
            j = order[(k + 1) % len(order)]
        other[i] = j
    own = encode([(r.prompt, r.completion) for r in rows], tokenizer, "causal", max_seq_len)
    kl = encode([(r.prompt, rows[other[i]].completion) for i, r in enumerate(rows)], tokenizer, "causal",
                max_seq_len)
    return [KTOExample(a, b, desirable=r.desirable) for a, b, r in zip(own, kl, rows)]


def check_balance(rows: Sequence[Feedback], desirable_weight: float, undesirable_weight: float) -> None:
    """Warn when λ_D·n_D / (λ_U·n_U) is outside [1, 4/3] (the KTO paper's advice), naming weights that fit."""
    n_good = sum(r.desirable for r in rows)
    n_bad = len(rows) - n_good
    if not n_good or not n_bad:
        raise DataError(f"KTO needs desirable and undesirable rows; these {len(rows)} are all "
                        f"{'desirable' if n_good else 'undesirable'}",
                        hint="add rows of the other label, or train with genlab tune on the desirable ones")
    ratio = desirable_weight * n_good / (undesirable_weight * n_bad)
    if not 1 <= ratio <= 4 / 3:
        low, high = n_bad * undesirable_weight / n_good, 4 / 3 * n_bad * undesirable_weight / n_good
        warnings.warn(f"KTO: {n_good} desirable and {n_bad} undesirable rows give λ_D·n_D / (λ_U·n_U) = "
                      f"{ratio:.2f}, "
                      f"outside [1, 4/3]; set desirable_weight in [{low:.2f}, {high:.2f}] (or adjust "
                      "undesirable_weight)", UserWarning, stacklevel=2)


class KTOObjective(DPOObjective):
    """The rows' forward with a graph, their mismatched KL rows' without (z0 is detached); the KTO loss per
    row."""

    def __init__(self, beta: float = 0.1, desirable_weight: float = 1.0, undesirable_weight: float = 1.0):
        super().__init__(beta, "sigmoid")
        for name, value in (("desirable_weight", desirable_weight), ("undesirable_weight", undesirable_weight)):
            if not value > 0:
                raise ConfigError(f"{name}={value!r} must be > 0", where=name,
                                  hint="weights balance desirable and undesirable rows; 1.0 when they are as many")
        self.kind = "kto"
        self.desirable_weight, self.undesirable_weight = float(desirable_weight), float(undesirable_weight)

    def collate(self, examples: Sequence[KTOExample], pad_id: int) -> dict[str, torch.Tensor]:
        batch = super().collate(examples, pad_id)
        batch["desirable"] = torch.tensor([e.desirable for e in examples], dtype=torch.bool)
        return batch

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        b = batch["input_ids"].shape[0] // 2  # the rows, then their KL rows
        half = lambda part: {k: batch[k][part] for k in ("input_ids", "attention_mask", "labels")}  # noqa: E731
        with torch.no_grad():  # z0 is detached: the KL rows need no graph (as TRL's KTOTrainer)
            kl_logps, _ = sequence_logps(model, half(slice(b, None)), self._head)
        logps, _ = sequence_logps(model, half(slice(0, b)), self._head)
        good = batch["desirable"]
        losses, z0 = kto_loss(logps, batch["ref_chosen"], kl_logps, batch["ref_rejected"], good, self.beta,
                              self.desirable_weight, self.undesirable_weight)
        with torch.no_grad():
            ratio = logps - batch["ref_chosen"]
            right = torch.where(good, ratio > z0, ratio < z0)
            self._logs = {"kl": float(z0), "reward_accuracy": float(right.float().mean())}
            for name, part in (("chosen", ratio[good]), ("rejected", ratio[~good])):
                if len(part):  # a batch may hold one label only
                    self._logs[f"logps_{name}"] = float(part.mean())
                    self._logs[f"rewards_{name}"] = self.beta * float(part.mean())
            if "logps_chosen" in self._logs and "logps_rejected" in self._logs:
                self._logs["reward_margin"] = self._logs["rewards_chosen"] - self._logs["rewards_rejected"]
        return losses.mean(), b


def kto_rows(source: str, split: str, n: int | None, seed: int, tokenizer, template, skip_bad_rows: bool
             ) -> list[Feedback]:
    """Unpaired rows (``prompt, completion, label``) from a file or ``hf:`` dataset, or preference pairs of any
    shape (a task, file or dataset) unpaired."""
    from genlab.alignment.preferences import load_feedback, load_preferences

    found = load_feedback(source, split=split, n=n, tokenizer=tokenizer, skip_bad_rows=skip_bad_rows)
    if found is not None:
        return found
    return unpaired(load_preferences(source, split=split, n=n, seed=seed, tokenizer=tokenizer, template=template,
                                     skip_bad_rows=skip_bad_rows).pairs)
