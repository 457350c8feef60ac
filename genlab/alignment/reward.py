"""Reward models: a scalar head trained on preference pairs with the Bradley–Terry loss.

    P(y_c ≻ y_r | x) = σ(r(x, y_c) − r(x, y_r))        loss = −log σ(r_c − r_r)

(Bradley & Terry 1952; the reward model of InstructGPT, Ouyang et al. 2022.) ``r`` is
a sequence-classification model with one output: an encoder (``minilm-l6``) reads
``[CLS] prompt [SEP] completion [SEP]`` and scores the pooled ``[CLS]``; a decoder
(``smollm2-135m-instruct``) reads the chat-formatted prompt followed by the completion
and scores its last token. Training goes through genlab's one loop
(``genlab.tuning.train`` with ``BradleyTerryObjective``), full or LoRA.

    from genlab.alignment.reward import train_reward_model, RewardModel
    res = train_reward_model("minilm-l6", "support-summary-prefs", "runs/rm")
    rm = RewardModel.load("runs/rm/adapter")
    rm.score(["Summarize: ..."], ["Maria asked for a refund ..."])   # -> [1.73]

The reward model scores *text*: it tokenizes prompts and completions with its own
tokenizer, so a policy with another tokenizer is scored correctly (its text is
re-tokenized). ``score_tokens`` (token ids, no re-tokenization) refuses ids from a
different tokenizer.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from genlab.alignment.preferences import PreferencePair, load_preferences
from genlab.errors import GenlabError
from genlab.io import atomic_write_json
from genlab.progress import Reporter, or_quiet
from genlab.tuning.objective import BaseObjective

LABELS = ["reward"]  # the head's one output


# -- the loss ---------------------------------------------------------------------------------
def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor, margin: torch.Tensor | float = 0.0):
    """Mean ``−log σ(r_c − r_r − margin)`` over pairs (B,) → scalar; TRL's RewardTrainer computes the same."""
    return -F.logsigmoid(r_chosen - r_rejected - margin).mean()


# -- encoding ---------------------------------------------------------------------------------
@dataclass
class PairExample:
    """One pair, tokenized as the reward model reads it."""

    chosen: dict[str, list[int]]  # input_ids (+ token_type_ids for BERT-style encoders)
    rejected: dict[str, list[int]]

    def __len__(self) -> int:
        return max(len(self.chosen["input_ids"]), len(self.rejected["input_ids"]))


def encode_text(tokenizer, kind: str, prompt: str, completion: str, max_len: int) -> dict[str, list[int]]:
    """Token ids of (prompt, completion) for a reward model of ``kind`` (``encoder`` or ``causal``).

    The prompt is cut from the left when too long (a dialogue's end says how it was resolved);
    the completion is kept whole up to half the budget.
    """
    if kind == "encoder":
        side = tokenizer.truncation_side
        tokenizer.truncation_side = "left"
        try:
            enc = tokenizer(prompt, completion, truncation="longest_first", max_length=max_len)
        finally:
            tokenizer.truncation_side = side
        return {k: list(v) for k, v in enc.items() if k in ("input_ids", "token_type_ids")}
    if getattr(tokenizer, "chat_template", None):
        p = tokenizer(_as_chat(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    else:
        p = tokenizer(prompt)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"][:max_len // 2]
    return {"input_ids": p[-(max_len - len(c)):] + c}


def _as_chat(tokenizer, prompt: str) -> str:
    """The prompt as one chat turn; a prompt already in this tokenizer's chat format is kept as it is."""
    from genlab.generation import apply_chat

    empty = apply_chat(tokenizer, "")
    opening = empty[:empty.find("\n") + 1] if "\n" in empty else empty
    return prompt if opening and prompt.startswith(opening) else apply_chat(tokenizer, prompt)


def encode_pairs(pairs: Sequence[PreferencePair], tokenizer, kind: str, max_len: int) -> list[PairExample]:
    return [PairExample(encode_text(tokenizer, kind, _text_prompt(p), p.chosen, max_len),
                        encode_text(tokenizer, kind, _text_prompt(p), p.rejected, max_len)) for p in pairs]


def _text_prompt(pair: PreferencePair) -> str:
    return pair.meta.get("prompt_text", pair.prompt)


def pad_rows(rows: Sequence[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad token rows: input_ids, attention_mask (+ token_type_ids) of shape (N, T)."""
    T = max(len(r["input_ids"]) for r in rows)
    out = {"input_ids": torch.full((len(rows), T), pad_id, dtype=torch.long),
           "attention_mask": torch.zeros((len(rows), T), dtype=torch.long)}
    if "token_type_ids" in rows[0]:
        out["token_type_ids"] = torch.zeros((len(rows), T), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        out["input_ids"][i, :n] = torch.tensor(r["input_ids"])
        out["attention_mask"][i, :n] = 1
        if "token_type_ids" in out:
            out["token_type_ids"][i, :n] = torch.tensor(r["token_type_ids"])
    return out


def rewards(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N,) scalar rewards of a padded batch (the head's single logit, in fp32)."""
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    return model(**inputs).logits[:, 0].float()


# -- the objective ----------------------------------------------------------------------------
class BradleyTerryObjective(BaseObjective):
    """Chosen and rejected rows in one forward (2B rows); loss = mean ``−log σ(r_c − r_r)``."""

    def __init__(self) -> None:
        self._logs: dict[str, float] = {}

    def collate(self, examples: Sequence[PairExample], pad_id: int) -> dict[str, torch.Tensor]:
        return pad_rows([e.chosen for e in examples] + [e.rejected for e in examples], pad_id)

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        r = rewards(model, batch)  # (2B,)
        b = r.shape[0] // 2
        rc, rr = r[:b], r[b:]
        loss = bradley_terry_loss(rc, rr)
        with torch.no_grad():
            self._logs = {"reward_chosen": float(rc.mean()), "reward_rejected": float(rr.mean()),
                          "reward_margin": float((rc - rr).mean()), "pair_accuracy": float((rc > rr).float().mean())}
        return loss, b

    def logs(self) -> dict[str, float]:
        return dict(self._logs)


# -- the model at inference -------------------------------------------------------------------
class RewardModel:
    """A trained reward model: ``score(prompts, completions) -> list[float]``."""

    def __init__(self, lm, manifest: dict[str, Any]):
        self.lm, self.manifest = lm, manifest
        self.max_len = int(manifest.get("reward_model", {}).get("max_len", 512))

    @classmethod
    def load(cls, path: str | Path, *, precision: str = "fp32", device: str | None = None) -> "RewardModel":
        """Load a reward model folder (``runs/rm/adapter``, or the run folder ``runs/rm``)."""
        from genlab.adapters import read_manifest
        from genlab.models import attach_adapter, load

        path = Path(path)
        if not (path / "manifest.json").is_file() and (path / "adapter" / "manifest.json").is_file():
            path = path / "adapter"
        manifest = read_manifest(path)
        if "reward_model" not in manifest:
            raise GenlabError(f"{path} is an adapter but not a reward model (its manifest has no reward_model)",
                              where=str(path / "manifest.json"), hint="train one with `genlab align reward`")
        lm = load(manifest["base_model"]["name"], precision=precision, device=device)
        attach_adapter(lm, path)
        lm.model.eval()
        return cls(lm, manifest)

    @property
    def kind(self) -> str:
        return self.lm.kind

    @property
    def tokenizer(self):
        return self.lm.tokenizer

    @torch.inference_mode()
    def score(self, prompts: Sequence[str], completions: Sequence[str], *, batch_size: int = 16) -> list[float]:
        """The reward of each (prompt, completion).

        Prompts are plain text; a decoder reward model wraps them in its chat template (a prompt
        already in that format, e.g. a policy's rendered prompt on the same tokenizer, is kept as is).
        """
        if len(prompts) != len(completions):
            raise GenlabError(f"{len(prompts)} prompts for {len(completions)} completions",
                              hint="give one prompt per completion (repeat a prompt for its k samples)")
        rows = [encode_text(self.tokenizer, self.kind, p, c, self.max_len) for p, c in zip(prompts, completions)]
        return self._score_rows(rows, batch_size)

    @torch.inference_mode()
    def score_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer) -> list[float]:
        """Score token ids directly (no re-tokenization): only for ids of this reward model's own tokenizer."""
        check_same_tokenizer(self.tokenizer, tokenizer)
        batch = {"input_ids": input_ids.to(self.lm.device), "attention_mask": attention_mask.to(self.lm.device)}
        return self._checked(rewards(self.lm.model, batch).tolist())

    def _score_rows(self, rows, batch_size: int) -> list[float]:
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
        out = [0.0] * len(rows)
        pad = self.tokenizer.pad_token_id or 0
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            batch = {n: v.to(self.lm.device) for n, v in pad_rows([rows[i] for i in idx], pad).items()}
            for i, r in zip(idx, rewards(self.lm.model, batch).tolist()):
                out[i] = r
        return self._checked(out)

    def _checked(self, scores: list[float]) -> list[float]:
        bad = [i for i, s in enumerate(scores) if not math.isfinite(s)]
        if bad:
            raise GenlabError(f"the reward model returned {scores[bad[0]]} for {len(bad)} of {len(scores)} texts "
                              f"(first: item {bad[0]})", where=str(self.manifest.get("base_model", {}).get("name")),
                              hint="likely causes: a diverged reward model (retrain with a lower lr) or fp16 "
                                   "overflow (load with precision='fp32')")
        return scores


def check_same_tokenizer(ours, theirs) -> None:
    """Refuse token ids from another tokenizer: the same id would mean another word."""
    if theirs is ours:
        return
    if len(ours) != len(theirs) or ours.get_vocab() != theirs.get_vocab():
        raise GenlabError(
            f"the policy's tokenizer ({getattr(theirs, 'name_or_path', '?')}, {len(theirs)} tokens) is not the reward "
            f"model's ({getattr(ours, 'name_or_path', '?')}, {len(ours)} tokens): its token ids mean other words here",
            hint="score text instead: RewardModel.score(prompts, completions) re-tokenizes with the reward "
                 "model's own tokenizer")


# -- training ---------------------------------------------------------------------------------
@dataclass
class RewardResult:
    out_dir: Path
    model_path: Path
    train: Any  # genlab.tuning TrainResult
    test: dict[str, Any] = field(default_factory=dict)  # pair_accuracy with CI, score means, per-flaw accuracy

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "model_path": str(self.model_path), "train": self.train.to_dict(),
                "test": self.test}


def train_reward_model(model: str = "minilm-l6", data: str = "support-summary-prefs",
                       out_dir: str | Path = "runs/reward", *, method: str = "lora", method_cfg: dict | None = None,
                       train_cfg=None, n_train: int | None = None, n_val: int = 64, n_test: int = 200,
                       test_split: str = "test", max_len: int = 512, resume: bool = False, overwrite: bool = False,
                       skip_bad_rows: bool = False, reporter: Reporter | None = None) -> RewardResult:
    """Train a reward model on ``data``'s train split (a preference task, file or ``hf:`` dataset) and score
    held-out pairs of ``test_split``: pair accuracy with a 95% interval and ``scores.png``."""
    from genlab.adapters import save_adapter, with_head
    from genlab.models import load
    from genlab.tuning import TrainConfig, train
    from genlab.tuning import methods
    from genlab.tuning.api import prepare_run_dir

    cfg = train_cfg or TrainConfig(lr=1e-4, epochs=1, batch_size=8, val_generate=0)
    reporter = or_quiet(reporter)
    out = Path(out_dir)
    mcfg = methods.make_config(method, method_cfg)
    prepare_run_dir(out, resume=resume, overwrite=overwrite)
    lm = load(model, precision="fp32")
    if lm.kind == "seq2seq":
        raise GenlabError(f"{model} is an encoder-decoder model; a reward model needs an encoder or a decoder",
                          hint="use minilm-l6 or smollm2-135m-instruct")
    kind = lm.kind
    train_pairs = _pairs(data, "train", n_train, cfg.seed, "sample", skip_bad_rows)
    val_pairs = _pairs(data, "validation", n_val, cfg.seed, 0, skip_bad_rows) if n_val else []
    test_pairs = _pairs(data, test_split, n_test, cfg.seed, 0, skip_bad_rows) if n_test else []
    if n_test and not test_pairs:
        raise GenlabError(f"no held-out pairs in split {test_split!r} of {data} to score the reward model on",
                          hint="give more pairs (a file's test split is 10% of its rows), or n_test=0 (--n 0) to "
                               "train without scoring")
    torch.manual_seed(cfg.seed)
    lm = with_head(lm, "classification", LABELS)
    net = methods.apply(method, lm.model, mcfg, tokenizer=lm.tokenizer)
    reporter.status(f"reward model: {model}, {method}: {methods.param_report(net)}; {len(train_pairs)} pairs")
    train_set = encode_pairs(train_pairs, lm.tokenizer, kind, max_len)
    val_set = encode_pairs(val_pairs, lm.tokenizer, kind, max_len)
    _write_config(out, model, lm, data, method, mcfg, cfg, max_len, n_train)
    result = train(net, lm.tokenizer, kind, train_set, val_set, cfg, out, resume=resume,
                   objective=BradleyTerryObjective())
    manifest_extra = {"head": "classification", "labels": LABELS, "task": str(data),
                      "reward_model": {"data": str(data), "max_len": max_len, "kind": kind},
                      "train_config": cfg.to_dict(), "metrics": {"best_val_loss": result.best_val_loss}}
    path = save_adapter(net, out / "adapter", method=method, method_cfg=mcfg, base_name=model,
                        base_hash=lm.model_hash, base_kind=kind, extra=manifest_extra)
    res = RewardResult(out, path, result)
    if n_test:
        net.eval()
        rm = RewardModel(dataclasses.replace(lm, model=net), {"reward_model": manifest_extra["reward_model"]})
        res.test = evaluate_pairs(rm, test_pairs, out / "scores.png", split=test_split)
        from genlab.adapters import update_manifest

        update_manifest(path, metrics={"best_val_loss": result.best_val_loss, "test": res.test})
    atomic_write_json(out / "results.json", res.to_dict())
    return res


def _pairs(data, split, n, seed, template, skip_bad_rows) -> list[PreferencePair]:
    return load_preferences(data, split=split, n=n, seed=seed, template=template, skip_bad_rows=skip_bad_rows).pairs


def evaluate_pairs(rm: RewardModel, pairs: Sequence[PreferencePair], png: Path | None = None,
                   split: str = "test") -> dict[str, Any]:
    """Held-out pair accuracy (95% bootstrap interval), mean scores, accuracy per flaw kind; the score plot."""
    from genlab.evaluation.metrics import mean_with_ci

    prompts = [_text_prompt(p) for p in pairs]
    chosen = rm.score(prompts, [p.chosen for p in pairs])
    rejected = rm.score(prompts, [p.rejected for p in pairs])
    correct = [float(c > r) for c, r in zip(chosen, rejected)]
    by_flaw: dict[str, list[float]] = {}  # pairs that name their flaw (support-summary-prefs), per kind
    if any(p.meta.get("flaw") for p in pairs):
        for p, ok in zip(pairs, correct):
            by_flaw.setdefault(str(p.meta.get("flaw") or "none"), []).append(ok)
    out = {"split": split, "n_pairs": len(pairs), "pair_accuracy": mean_with_ci(correct),
           "mean_chosen": sum(chosen) / len(chosen), "mean_rejected": sum(rejected) / len(rejected),
           "by_flaw": {k: {"accuracy": sum(v) / len(v), "n": len(v)} for k, v in sorted(by_flaw.items())}}
    if png is not None:
        from genlab.alignment.plots import plot_scores

        out["plot"] = str(plot_scores(chosen, rejected, png, title=f"reward scores, {split} pairs"))
    return out


def _write_config(out, model, lm, data, method, mcfg, cfg, max_len, n_train) -> None:
    from genlab.provenance import Provenance

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", {
        "kind": "reward_model", "model": model, "model_hash": lm.model_hash, "data": str(data), "method": method,
        "method_config": dataclasses.asdict(mcfg), "train_config": cfg.to_dict(), "max_len": max_len,
        "n_train": n_train, "provenance": Provenance.capture().to_json()})
