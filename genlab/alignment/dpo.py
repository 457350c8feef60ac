"""DPO, IPO and their relatives (SLiC, rDPO, SimPO, ORPO) on preference pairs, through genlab's one loop.

DPO (Rafailov et al. 2023, https://arxiv.org/abs/2305.18290), with
``Δ = [log π(y_c|x) − log π_ref(y_c|x)] − [log π(y_r|x) − log π_ref(y_r|x)]`` (sums over completion tokens):

    sigmoid:  loss = −log σ(β·Δ)
              with label smoothing ε (conservative DPO: each label taken to be wrong with probability ε)
              loss = −(1−ε)·log σ(β·Δ) − ε·log σ(−β·Δ)
    robust:   loss = [−(1−ε)·log σ(β·Δ) + ε·log σ(−β·Δ)] / (1 − 2ε)   (Chowdhury et al. 2024,
              https://arxiv.org/abs/2403.00409: unbiased under labels flipped with probability ε)
    hinge:    loss = max(0, 1 − β·Δ)         (SLiC, Zhao et al. 2023, https://arxiv.org/abs/2305.10425)
    ipo:      loss = (Δ̄ − 1/(2β))²      Δ̄: Δ with each log-ratio divided by its completion's tokens
                                          (Azar et al. 2023, https://arxiv.org/abs/2310.12036; TRL's normalisation)

and two losses with no reference model (nothing is precomputed), on the completions' mean token log-probs
``l̄ = log π(y|x) / |y|``:

    simpo:    loss = −log σ(β·(l̄_c − l̄_r) − γ)
              (Meng et al. 2024, https://arxiv.org/abs/2405.14734; TRL's CPO ``loss_type="simpo"``; β ≈ 2, γ = 0.5)
    orpo:     loss = −l̄_c − β·log σ(log odds_c − log odds_r),  odds = e^l̄ / (1 − e^l̄)
              (Hong et al. 2024, https://arxiv.org/abs/2403.07691: SFT and preference in one stage; β = λ ≈ 0.1)

(TRL 1.16's ``loss_type`` values ``sigmoid``, ``robust``, ``hinge`` and ``ipo`` compute the same losses; its
``sigmoid`` no longer takes label smoothing, which here gives conservative DPO as in TRL before 1.0 and
OpenRLHF.) ``sft_weight`` α adds α times the
chosen completion's mean token NLL to each pair's loss (RPO, Pang et al. 2024, https://arxiv.org/abs/2404.19733;
TRL's ``rpo_alpha``, LLaMA-Factory's ``pref_ftx``): it keeps the chosen replies likely while the margin grows.

The implicit reward of a completion is ``β·(log π − log π_ref)``; logged per step: loss,
``reward_margin`` (β·Δ), ``reward_accuracy`` (share of pairs with Δ > 0), and the chosen and
rejected log-ratios ``logps_chosen`` / ``logps_rejected`` — both usually fall; the margin is
what must grow.

The reference log-probs are computed once, before the first step, and cached on the
examples (and in ``reference_logps.pt`` for ``--resume``): for a new LoRA adapter the
reference is the base model (the adapter disabled, no second copy of the model); when
training continues an SFT adapter (``from_adapter``) it is that SFT model, i.e. the policy
before its first step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from genlab.alignment.preferences import PreferencePair, load_preferences
from genlab.errors import ConfigError, GenlabError
from genlab.io import atomic_write_json
from genlab.progress import Reporter, or_quiet
from genlab.runtime import autocast
from genlab.tuning.data import IGNORE, Example, collate, encode
from genlab.tuning.loss import CompletionHead
from genlab.tuning.objective import BaseObjective

LOSSES = ("sigmoid", "ipo", "hinge", "robust", "simpo", "orpo")  # and "kto", on unpaired rows (alignment/kto.py)
REFERENCE_FREE = ("simpo", "orpo")
DEFAULT_BETA = {"simpo": 2.0}  # the others: 0.1


def beta_for(loss: str, beta: float | None = None) -> float:
    """``beta`` as given, else the loss's default (simpo 2.0, the others 0.1)."""
    return float(beta) if beta is not None else DEFAULT_BETA.get(loss, 0.1)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float, loss: str = "sigmoid",
             n_chosen: torch.Tensor | None = None, n_rejected: torch.Tensor | None = None,
             label_smoothing: float = 0.0, gamma: float = 0.5) -> torch.Tensor:
    """Per-pair losses (B,) from sequence log-probs (B,); ``n_*`` (completion token counts) for IPO, SimPO and
    ORPO; ``label_smoothing`` ε for sigmoid and robust; ``gamma`` SimPO's margin (the reference is unused there)."""
    if loss in REFERENCE_FREE:
        mean_c, mean_r = policy_chosen / n_chosen.clamp(min=1), policy_rejected / n_rejected.clamp(min=1)
        if loss == "simpo":
            return -F.logsigmoid(beta * (mean_c - mean_r) - gamma)
        mean_c, mean_r = mean_c.clamp(max=-1e-6), mean_r.clamp(max=-1e-6)  # log(1 − p) finite even at p = 1
        log_odds = (mean_c - mean_r) - (torch.log1p(-torch.exp(mean_c)) - torch.log1p(-torch.exp(mean_r)))
        return -mean_c - beta * F.logsigmoid(log_odds)
    chosen, rejected = policy_chosen - ref_chosen, policy_rejected - ref_rejected
    z, eps = beta * (chosen - rejected), label_smoothing
    if loss == "sigmoid":
        return -(1 - eps) * F.logsigmoid(z) - eps * F.logsigmoid(-z)
    if loss == "robust":
        return (-(1 - eps) * F.logsigmoid(z) + eps * F.logsigmoid(-z)) / (1 - 2 * eps)
    if loss == "hinge":
        return torch.relu(1 - z)
    if loss == "ipo":
        delta = chosen / n_chosen.clamp(min=1) - rejected / n_rejected.clamp(min=1)
        return (delta - 1 / (2 * beta)) ** 2
    raise ConfigError(f"unknown DPO loss {loss!r}", where="loss", hint=f"one of {', '.join(LOSSES)}")


@dataclass
class DPOExample:
    """A pair as two prompt+completion token rows (prompt positions masked) and, once computed, the
    reference log-probs of both completions."""

    chosen: Example
    rejected: Example
    ref_chosen: float | None = None
    ref_rejected: float | None = None

    def __len__(self) -> int:
        return max(len(self.chosen), len(self.rejected))


def encode_pairs(pairs: Sequence[PreferencePair], tokenizer, max_seq_len: int) -> list[DPOExample]:
    """Tokenize like supervised fine-tuning does (``prompt + completion + eos``, prompt masked)."""
    chosen = encode([(p.prompt, p.chosen) for p in pairs], tokenizer, "causal", max_seq_len)
    rejected = encode([(p.prompt, p.rejected) for p in pairs], tokenizer, "causal", max_seq_len)
    return [DPOExample(c, r) for c, r in zip(chosen, rejected)]


def sequence_logps(model, batch: dict[str, torch.Tensor], head: CompletionHead) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of log π(token) over each row's completion tokens, and their count: (N,), (N,).

    The LM head runs on completion positions only (``CompletionHead``): logits (n_tokens, V)."""
    labels = batch["labels"][:, 1:]  # position t predicts token t+1
    with head:
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
    h = head.hidden
    h = h[:, h.shape[1] - batch["input_ids"].shape[1]:-1]  # (N, T-1, H), virtual tokens dropped
    sel = labels != IGNORE  # (N, T-1)
    logits = head.logits(h[sel]).float()  # (n, V)
    token_logps = torch.log_softmax(logits, -1).gather(1, labels[sel].unsqueeze(1)).squeeze(1)  # (n,)
    rows = sel.nonzero()[:, 0]  # the row of each selected token
    sums = torch.zeros(labels.shape[0], dtype=token_logps.dtype, device=token_logps.device)
    return sums.index_add(0, rows, token_logps), sel.sum(1)


class DPOObjective(BaseObjective):
    """Chosen and rejected rows of a micro-batch in one forward (2B rows); the DPO/IPO loss per pair."""

    def __init__(self, beta: float = 0.1, loss: str = "sigmoid", label_smoothing: float = 0.0,
                 sft_weight: float = 0.0, gamma: float = 0.5):
        if loss not in LOSSES:
            raise ConfigError(f"unknown DPO loss {loss!r}", where="loss", hint=f"one of {', '.join(LOSSES)}")
        if not beta > 0:
            raise ConfigError(f"beta={beta!r} must be > 0", where="beta", hint="DPO papers use 0.1 to 0.5")
        if not 0 <= label_smoothing < 0.5:
            raise ConfigError(f"label_smoothing={label_smoothing!r} must be in [0, 0.5)", where="label_smoothing",
                              hint="the share of preference labels taken to be flipped, e.g. 0.1")
        if label_smoothing and loss not in ("sigmoid", "robust"):
            raise ConfigError(f"label_smoothing is for the sigmoid and robust losses, not {loss}",
                              where="label_smoothing", hint="use --loss sigmoid or robust, or leave it at 0")
        if not sft_weight >= 0:
            raise ConfigError(f"sft_weight={sft_weight!r} must be >= 0", where="sft_weight",
                              hint="RPO uses 1.0; 0 is plain DPO")
        self.beta, self.kind, self.label_smoothing = float(beta), loss, float(label_smoothing)
        self.sft_weight, self.gamma = float(sft_weight), float(gamma)
        self._head: CompletionHead | None = None
        self._logs: dict[str, float] = {}

    @property
    def reference_free(self) -> bool:
        return self.kind in REFERENCE_FREE

    def attach(self, model) -> None:
        self._head = CompletionHead(model)

    def detach(self) -> None:
        if self._head is not None:
            self._head.remove()
            self._head = None

    def collate(self, examples: Sequence[DPOExample], pad_id: int) -> dict[str, torch.Tensor]:
        if self.reference_free:
            for e in examples:
                e.ref_chosen = e.ref_rejected = 0.0  # unused
        if any(e.ref_chosen is None for e in examples):
            raise GenlabError("DPO examples have no reference log-probs", hint="call precompute_reference first")
        batch = collate([e.chosen for e in examples] + [e.rejected for e in examples], pad_id, "causal")
        batch["ref_chosen"] = torch.tensor([e.ref_chosen for e in examples], dtype=torch.float32)
        batch["ref_rejected"] = torch.tensor([e.ref_rejected for e in examples], dtype=torch.float32)
        return batch

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        logps, counts = sequence_logps(model, batch, self._head)  # (2B,)
        b = logps.shape[0] // 2
        pc, pr, nc, nr = logps[:b], logps[b:], counts[:b], counts[b:]
        rc, rr = batch["ref_chosen"], batch["ref_rejected"]
        losses = dpo_loss(pc, pr, rc, rr, self.beta, self.kind, nc, nr, self.label_smoothing, self.gamma)
        nll = -pc / nc.clamp(min=1)  # the chosen reply's mean token NLL
        if self.sft_weight:
            losses = losses + self.sft_weight * nll
        with torch.no_grad():  # the implicit rewards: β·log-ratio to the reference, or β·mean log-prob without one
            if self.reference_free:
                pc, pr = pc / nc.clamp(min=1), pr / nr.clamp(min=1)
            margin = self.beta * ((pc - rc) - (pr - rr))
            self._logs = {"reward_margin": float(margin.mean()), "reward_accuracy": float((margin > 0).float().mean()),
                          "logps_chosen": float((pc - rc).mean()), "logps_rejected": float((pr - rr).mean()),
                          "policy_logps_chosen": float(pc.mean()), "policy_logps_rejected": float(pr.mean()),
                          "nll_chosen": float(nll.mean())}
        return losses.mean(), b

    def logs(self) -> dict[str, float]:
        return dict(self._logs)


@torch.no_grad()
def precompute_reference(model, examples: Sequence[DPOExample], pad_id: int, *, batch_size: int = 8,
                         precision: str = "auto", disable_adapter: bool = True, reporter: Reporter | None = None):
    """Fill ``ref_chosen``/``ref_rejected`` of every example: the model with its adapter disabled
    (``disable_adapter``; a peft model), else the model as it is now. Eval mode (no dropout)."""
    head = CompletionHead(model)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    todo = [e for e in examples if e.ref_chosen is None]
    order = sorted(range(len(todo)), key=lambda i: len(todo[i]))
    ctx = model.disable_adapter() if disable_adapter and hasattr(model, "disable_adapter") else contextlib.nullcontext()
    try:
        with ctx, or_quiet(reporter).task("reference log-probs", len(todo)) as advance:
            for k in range(0, len(order), batch_size):
                group = [todo[i] for i in order[k:k + batch_size]]
                batch = collate([e.chosen for e in group] + [e.rejected for e in group], pad_id, "causal")
                batch = {n: v.to(device) for n, v in batch.items()}
                with autocast(precision, device):
                    logps, _ = sequence_logps(model, batch, head)
                logps = logps.tolist()
                for j, e in enumerate(group):
                    e.ref_chosen, e.ref_rejected = logps[j], logps[len(group) + j]
                advance(len(group))
    finally:
        head.remove()
        model.train(was_training)


def make_objective(loss: str = "sigmoid", beta: float = 0.1, label_smoothing: float = 0.0, sft_weight: float = 0.0,
                   gamma: float = 0.5, desirable_weight: float = 1.0, undesirable_weight: float = 1.0):
    """The objective of ``loss``: DPO's (pairs), or KTO's (rows labelled desirable or not); settings checked."""
    if loss != "kto":
        if (desirable_weight, undesirable_weight) != (1.0, 1.0):
            raise ConfigError("desirable_weight and undesirable_weight are KTO's", where="desirable_weight",
                              hint="use --loss kto, or leave them at 1")
        return DPOObjective(beta, loss, label_smoothing, sft_weight, gamma)
    if label_smoothing or sft_weight:
        raise ConfigError("label_smoothing and sft_weight are for the pairwise losses, not kto",
                          where="label_smoothing" if label_smoothing else "sft_weight", hint="leave them at 0")
    from genlab.alignment.kto import KTOObjective

    return KTOObjective(beta, desirable_weight, undesirable_weight)


# -- the run ----------------------------------------------------------------------------------
@dataclass
class DPOResult:
    out_dir: Path
    adapter_path: Path
    train: Any  # genlab.tuning TrainResult
    reference_s: float
    history: list[dict] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "adapter": str(self.adapter_path), "train": self.train.to_dict(),
                "reference_s": self.reference_s}


def train_dpo(model: str = "smollm2-135m-instruct", data: str = "support-summary-prefs",
              out_dir: str | Path = "runs/dpo", *, beta: float = 0.1, loss: str = "sigmoid",
              label_smoothing: float = 0.0, sft_weight: float = 0.0, gamma: float = 0.5,
              desirable_weight: float = 1.0, undesirable_weight: float = 1.0, method: str = "lora",
              method_cfg: dict | None = None, from_adapter: str | Path | None = None,
              train_cfg=None, n_train: int | None = None, n_val: int = 32, resume: bool = False,
              overwrite: bool = False, skip_bad_rows: bool = False, reporter: Reporter | None = None) -> DPOResult:
    """DPO/IPO on ``data``'s train split (a preference task, file or ``hf:`` dataset); writes ``adapter/``,
    ``metrics.jsonl``, ``dpo_curves.png`` and ``results.json`` under ``out_dir``. ``loss="kto"`` trains KTO
    (``genlab.alignment.kto``) on unpaired ``prompt, completion, label`` rows, or on pairs split into rows.

    ``from_adapter``: continue an SFT adapter (peft format, e.g. LoRA from ``genlab tune``); the
    reference is then that SFT model. Otherwise a new ``method`` adapter is trained on the base.
    """
    from genlab.adapters import save_adapter
    from genlab.models import load
    from genlab.tuning import TrainConfig, methods, train
    from genlab.tuning.api import prepare_run_dir

    cfg = train_cfg or TrainConfig(lr=5e-5, epochs=1, batch_size=4, val_generate=0)
    objective = make_objective(loss, beta, label_smoothing, sft_weight, gamma, desirable_weight,
                               undesirable_weight)  # checks the settings before loading
    reporter = or_quiet(reporter)
    out = Path(out_dir)
    prepare_run_dir(out, resume=resume, overwrite=overwrite)
    lm = load(model, precision="fp32")
    if lm.kind != "causal":
        raise GenlabError(f"DPO needs a decoder-only model; {model} is {lm.kind}", hint="use smollm2-135m-instruct")
    torch.manual_seed(cfg.seed)
    net, method, mcfg = _policy(lm, method, method_cfg, from_adapter)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    tok = lm.tokenizer
    if loss == "kto":
        from genlab.alignment.kto import check_balance, encode_feedback, kto_rows

        rows = kto_rows(data, "train", n_train, cfg.seed, tok, "sample", skip_bad_rows)
        check_balance(rows, desirable_weight, undesirable_weight)
        train_set = encode_feedback(rows, tok, cfg.max_seq_len, cfg.seed)
        val_set = encode_feedback(kto_rows(data, "validation", n_val, cfg.seed, tok, 0, skip_bad_rows), tok,
                                  cfg.max_seq_len, cfg.seed) if n_val else []
    else:
        train_set = encode_pairs(_pairs(data, "train", n_train, cfg.seed, tok, "sample", skip_bad_rows), tok,
                                 cfg.max_seq_len)
        val_set = encode_pairs(_pairs(data, "validation", n_val, cfg.seed, tok, 0, skip_bad_rows), tok,
                               cfg.max_seq_len) if n_val else []
    t0 = time.perf_counter()
    if not objective.reference_free:
        _reference(net, train_set + val_set, pad, cfg, out, from_adapter is None, resume, reporter)
    reference_s = time.perf_counter() - t0
    ref = "no reference model" if objective.reference_free else f"reference log-probs in {reference_s:.1f} s"
    unit = "rows" if loss == "kto" else "pairs"
    reporter.status(f"dpo ({loss}, β={beta:g}): {methods.param_report(net)}; {len(train_set)} {unit}; {ref}")
    _write_config(out, model, lm, data, method, mcfg, cfg, beta, loss, from_adapter, n_train,
                  {"label_smoothing": label_smoothing, "sft_weight": sft_weight, "gamma": gamma,
                   **({"desirable_weight": desirable_weight, "undesirable_weight": undesirable_weight}
                      if loss == "kto" else {})})
    result = train(net, tok, "causal", train_set, val_set, cfg, out, resume=resume, objective=objective)
    from genlab.alignment.plots import plot_dpo_curves

    plot_dpo_curves(result.history, out / "dpo_curves.png", kto=loss == "kto")
    path = save_adapter(net, out / "adapter", method=method, method_cfg=mcfg, base_name=lm.name,
                        base_hash=lm.model_hash, base_kind=lm.kind, extra={
                            "task": str(data), "train_config": cfg.to_dict(),
                            "dpo": {"beta": beta, "loss": loss, "from_adapter": str(from_adapter or "")},
                            "metrics": {"best_val_loss": result.best_val_loss, "final_loss": result.final_loss}})
    res = DPOResult(out, path, result, round(reference_s, 3), result.history)
    atomic_write_json(out / "results.json", res.to_dict())
    return res


def _policy(lm, method: str, method_cfg, from_adapter):
    """(trainable model, method, its config): a new adapter, or an existing peft adapter made trainable."""
    from genlab.tuning import methods

    if from_adapter is None:
        mcfg = methods.make_config(method, method_cfg)
        return methods.apply(method, lm.model, mcfg, tokenizer=lm.tokenizer), method, mcfg
    from genlab.adapters import read_manifest
    from genlab.adapters.manifest import check_base

    manifest = read_manifest(from_adapter)
    check_base(lm, manifest, from_adapter)
    if manifest.get("saved_by") != "peft":
        raise GenlabError(f"DPO can continue peft adapters (lora, ia3, ...), not {manifest['method']!r}",
                          where=str(from_adapter), hint="start from a LoRA SFT run, or train a new adapter")
    from peft import PeftModel

    net = PeftModel.from_pretrained(lm.model, str(from_adapter), is_trainable=True)
    mcfg = methods.make_config(manifest["method"], manifest.get("method_config"))
    return net, manifest["method"], mcfg


def _reference(net, examples, pad, cfg, out: Path, disable: bool, resume: bool, reporter) -> None:
    """Reference log-probs, computed once (kept in ``reference_logps.pt`` so ``--resume`` reuses them)."""
    cache = out / "reference_logps.pt"
    if resume and cache.is_file():
        saved = torch.load(cache)
        if len(saved) == len(examples):
            for e, (c, r) in zip(examples, saved):
                e.ref_chosen, e.ref_rejected = c, r
            return
    precompute_reference(net, examples, pad, batch_size=cfg.batch_size, precision=cfg.precision,
                         disable_adapter=disable, reporter=reporter)
    out.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    torch.save([(e.ref_chosen, e.ref_rejected) for e in examples], tmp)
    tmp.replace(cache)


def _pairs(data, split, n, seed, tokenizer, template, skip_bad_rows) -> list[PreferencePair]:
    return load_preferences(data, split=split, n=n, seed=seed, tokenizer=tokenizer, template=template,
                            skip_bad_rows=skip_bad_rows).pairs


def _write_config(out, model, lm, data, method, mcfg, cfg, beta, loss, from_adapter, n_train,
                  loss_options: dict | None = None) -> None:
    from genlab.provenance import Provenance

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", {
        "kind": "dpo", "model": model, "model_hash": lm.model_hash, "data": str(data), "method": method,
        "method_config": dataclasses.asdict(mcfg), "train_config": cfg.to_dict(), "beta": beta, "loss": loss,
        **(loss_options or {}), "from_adapter": str(from_adapter) if from_adapter else None,
        "n_train": n_train,
        "provenance": Provenance.capture().to_json()})
