"""Bookkeeping around the loop: which batches a step uses, logs, validation, checkpoints, curves."""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, Sequence

import torch

from genlab.errors import GenlabError
from genlab.io import atomic_write_text
from genlab.progress import Reporter, or_quiet
from genlab.runtime import autocast, peak_rss_mb
from genlab.tuning import checkpoint as ckpt
from genlab.tuning.config import TrainConfig
from genlab.tuning.data import Example, batch_order


@dataclass
class TrainResult:
    steps: int
    final_loss: float
    tokens: int
    wall_s: float
    tokens_per_s: float
    best_val_loss: float | None = None
    best_step: int | None = None
    stopped_early: bool = False
    peak_rss_mb: float = 0.0
    peak_gpu_mb: float | None = None
    history: list[dict] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "history"}


@dataclass
class LoopState:
    """Where the loop stands after a finished optimizer step; saved in each checkpoint.

    ``to_json``/``from_json`` (a plain dict in the checkpoint) read checkpoints written before
    this record existed: the same keys, and any missing one takes its default.
    """

    step: int = 0
    loss: float = float("nan")
    tokens: int = 0
    elapsed: float = 0.0  # training seconds (validation and saving excluded)
    best_val: float | None = None
    best_step: int | None = None
    bad_evals: int = 0  # validations in a row without a new best (early stopping)
    stop: bool = False
    stopped_early: bool = False

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "LoopState":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def peak_memory_mb() -> tuple[float, float | None]:
    rss = peak_rss_mb() or 0.0
    gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return rss, gpu


class Bookkeeper:
    """State of one run that is not the model: data positions, metrics.jsonl, checkpoints."""

    def __init__(self, cfg: TrainConfig, acc, out: Path, kind: str, tokenizer,
                 train_set: Sequence[Example], val_set: Sequence[Example], objective):
        self.cfg, self.acc, self.out, self.kind, self.objective = cfg, acc, out, kind, objective
        self.train_set, self.val_set = list(train_set), list(val_set)[:cfg.val_max_examples]
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.lengths = [objective.length(e) for e in self.train_set]
        self.world, self.rank = acc.num_processes, acc.process_index
        self.group = self.world * cfg.grad_accum  # micro-batches per optimizer step, all ranks
        n_batches = math.ceil(len(self.train_set) / cfg.batch_size)
        self.steps_per_epoch = n_batches // self.group
        if self.steps_per_epoch == 0:
            raise GenlabError(
                f"{len(self.train_set)} training examples make {n_batches} batch(es) of {cfg.batch_size}, fewer than "
                f"the {self.group} one optimizer step needs (grad_accum {cfg.grad_accum} x {self.world} process(es))",
                where="TrainConfig.batch_size", hint="use more data or lower batch_size / grad_accum")
        self.total_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * self.steps_per_epoch))
        self.eval_every = cfg.eval_every or self.steps_per_epoch
        self.save_every = cfg.save_every or self.steps_per_epoch
        self.ckpt_dir = out / "checkpoints"
        self.metrics_path = out / "metrics.jsonl"
        self._orders: dict[int, list[list[int]]] = {}
        self._t0 = time.perf_counter()
        self.main = acc.is_main_process
        self._committed: tuple[LoopState, dict] = (LoopState(), {})
        self._saved_step: int | None = None

    # -- data ---------------------------------------------------------------
    def micro_batches(self, step: int) -> list[dict[str, torch.Tensor]]:
        epoch, k = divmod(step, self.steps_per_epoch)
        if epoch not in self._orders:
            self._orders = {epoch: batch_order(self.lengths, self.cfg.batch_size, self.cfg.seed, epoch,
                                               self.cfg.group_by_length)}
        group = self._orders[epoch][k * self.group:(k + 1) * self.group]
        return [self._to_device(self.objective.collate([self.train_set[j] for j in b], self.pad_id))
                for b in group[self.rank::self.world]]

    def _to_device(self, batch):
        return {k: v.to(self.acc.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    # -- state ----------------------------------------------------------------
    def fresh(self) -> LoopState:
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.metrics_path, "")
        return self._commit(LoopState())

    def _commit(self, state: LoopState) -> LoopState:
        """Remember the state of the last finished step and the RNG the next one starts from."""
        self._committed = (state, ckpt.rng_state())
        return state

    @contextlib.contextmanager
    def checkpoint_on_interrupt(self, model, opt, sched):
        """On Ctrl-C, save the last finished step (unless the periodic checkpoint already holds it)."""
        start = self._committed[0].step
        try:
            yield
        except ckpt.UpdateInterrupted:
            raise
        except KeyboardInterrupt:
            state, rng = self._committed
            if state.step > start and state.step != self._saved_step:
                self.save(model, opt, sched, state, rng=rng)
            raise

    def restore(self, model, opt, sched) -> LoopState:
        path = self.ckpt_dir / ckpt.LAST
        if not path.is_file():
            return self.fresh()
        saved = ckpt.load(path)
        ckpt.load_trainable(self.acc.unwrap_model(model), saved["trainable"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        rng = self.ckpt_dir / f"rng-{self.rank}.pt"
        ckpt.set_rng_state(ckpt.load(rng) if rng.is_file() else saved["rng"])
        state = LoopState.from_json(saved["state"])
        if self.main:
            self._truncate_metrics(state.step)
        self._saved_step = state.step
        return self._commit(state)

    def _truncate_metrics(self, step: int) -> None:
        rows = self.history()
        keep = [r for r in rows if r.get("step", 0) <= step]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in keep))

    def history(self) -> list[dict]:
        if not self.metrics_path.is_file():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def log(self, row: dict) -> None:
        if self.main:
            with open(self.metrics_path, "a") as f:
                f.write(json.dumps(row) + "\n")

    # -- after each optimizer step ---------------------------------------------
    def after_step(self, model, opt, sched, state, step, loss, tokens, lr, grad_norm, val_metric, advance,
                   extra: dict[str, float] | None = None) -> LoopState:
        loss = self._mean_over_ranks(loss)
        now = time.perf_counter()
        elapsed = state.elapsed + (now - self._t0)
        self._t0 = now
        state = replace(state, step=step, loss=loss, tokens=state.tokens + tokens * self.world, elapsed=elapsed)
        tok_s = state.tokens / max(elapsed, 1e-9)
        if step % self.cfg.log_every == 0 or step == self.total_steps:
            self.log({"step": step, "epoch": round(step / self.steps_per_epoch, 4), "loss": loss, "lr": lr,
                      "grad_norm": None if grad_norm is None else float(grad_norm),
                      "tokens": state.tokens, "tok_s": round(tok_s, 1), "elapsed_s": round(elapsed, 3),
                      "threads": torch.get_num_threads(), **(extra or {})})
        advance(1, info=f"loss {loss:.4f}  lr {lr:.2e}  {tok_s:,.0f} tok/s")
        if self.val_set and (step % self.eval_every == 0 or step == self.total_steps):
            state = self._validate(model, state, step, val_metric)
        if step % self.save_every == 0 or step == self.total_steps or state.stop:
            self.save(model, opt, sched, state)
        self._t0 = time.perf_counter()  # validation and saving are not training time
        return self._commit(state)

    def _mean_over_ranks(self, x: float) -> float:
        if self.world == 1:
            return x
        t = torch.tensor([x], device=self.acc.device)
        return float(self.acc.reduce(t, reduction="mean").item())

    def _validate(self, model, state: LoopState, step: int, val_metric) -> LoopState:
        val_loss = validation_loss(model, self.val_set, self.cfg, self.objective, self.pad_id, self.acc.device)
        row = {"step": step, "val_loss": val_loss}
        if val_metric is not None and self.main:
            model.eval()
            row.update({f"val_{k}": v for k, v in val_metric(self.acc.unwrap_model(model)).items()})
            model.train()
        self.log(row)
        if state.best_val is None or val_loss < state.best_val:
            state = replace(state, best_val=val_loss, best_step=step, bad_evals=0)
            if self.main:
                ckpt.save(self.ckpt_dir / ckpt.BEST, {"step": step, "trainable":
                          ckpt.trainable_state(self.acc.unwrap_model(model))})
        else:
            state = replace(state, bad_evals=state.bad_evals + 1)
            patience = self.cfg.early_stopping_patience
            if patience and state.bad_evals >= patience:
                state = replace(state, stop=True, stopped_early=True)
        return state

    def save(self, model, opt, sched, state, rng: dict | None = None) -> None:
        rng = rng or ckpt.rng_state()
        ckpt.save(self.ckpt_dir / f"rng-{self.rank}.pt", rng)
        if self.main:
            ckpt.save(self.ckpt_dir / ckpt.LAST, {
                "state": state.to_json(), "trainable": ckpt.trainable_state(self.acc.unwrap_model(model)),
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": rng,
                "config": self.cfg.to_dict()})
        self._saved_step = state.step
        self.acc.wait_for_everyone()

    # -- end ------------------------------------------------------------------
    def progress(self, reporter: Reporter):
        """The reporter's bar on the main process (other ranks show nothing); yields ``advance(n, info)``."""
        return or_quiet(reporter if self.main else None).task("train", self.total_steps)

    def finish(self, model, state) -> TrainResult:
        if self.cfg.load_best and state.best_step is not None and (self.ckpt_dir / ckpt.BEST).is_file():
            ckpt.load_trainable(model, ckpt.load(self.ckpt_dir / ckpt.BEST)["trainable"])
        history = self.history() if self.main else []
        if self.main and history:
            from genlab.tuning.curves import plot_curves

            plot_curves(history, self.out / "train_curves.png")
        rss, gpu = peak_memory_mb()
        return TrainResult(state.step, state.loss, state.tokens, round(state.elapsed, 3),
                           round(state.tokens / max(state.elapsed, 1e-9), 1), state.best_val,
                           state.best_step, state.stopped_early, round(rss, 1),
                           None if gpu is None else round(gpu, 1), history)


def validation_loss(model, examples, cfg: TrainConfig, objective, pad_id, device) -> float:
    """Weighted mean of ``objective``'s loss over ``examples`` (eval mode, no gradients).

    ``objective`` may be a kind (``"causal"``...): completion cross-entropy, hooked for this call only.
    """
    from accelerate.utils import extract_model_from_parallel

    inner = extract_model_from_parallel(model)
    if isinstance(objective, str):
        from genlab.tuning.objective import CompletionObjective

        objective = CompletionObjective(objective)
        objective.attach(inner)
        try:
            return validation_loss(inner, examples, cfg, objective, pad_id, device)
        finally:
            objective.detach()
    order = sorted(range(len(examples)), key=lambda i: objective.length(examples[i]))
    total, count = 0.0, 0
    was_training = model.training
    inner.eval()
    try:
        with torch.no_grad():
            for k in range(0, len(order), cfg.batch_size):
                batch = objective.collate([examples[i] for i in order[k:k + cfg.batch_size]], pad_id)
                batch = {n: v.to(device) if isinstance(v, torch.Tensor) else v for n, v in batch.items()}
                with autocast(cfg.precision, device):
                    loss, n = objective.loss(inner, batch)
                total, count = total + loss.item() * n, count + n
    finally:
        inner.train(was_training)
    return total / max(count, 1)
