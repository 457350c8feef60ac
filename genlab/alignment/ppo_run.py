"""Bookkeeping around the PPO loop: prompt order, metrics.jsonl, samples.jsonl, checkpoints, the adapter.

Checkpoints (``genlab.tuning.checkpoint``) hold the trainable tensors, the value head, the
optimizer, β and the step. Each step's sampling is seeded by (seed, step), so a resumed run
replays exactly the rollouts the uninterrupted run would have made.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

from genlab.errors import ConfigError, GenlabError
from genlab.io import atomic_write_json, atomic_write_text
from genlab.tuning import checkpoint as ckpt

RUN_FILES = ("config.json", "metrics.jsonl", "samples.jsonl", "checkpoints", "adapter", "results.json",
             "ppo_curves.png")
EXAMPLES = 4  # completions kept in samples.jsonl per sampled step


class PPORun:
    def __init__(self, cfg, out: Path, lm, reward, n_prompts: int):
        self.cfg, self.out, self.lm, self.reward, self.n_prompts = cfg, out, lm, reward, n_prompts
        self.ckpt_dir = out / "checkpoints"
        self.metrics_path, self.samples_path = out / "metrics.jsonl", out / "samples.jsonl"
        self._committed: dict = {"step": 0}
        self._saved_step: int | None = None
        self._t0 = time.perf_counter()

    # -- prompts ----------------------------------------------------------------
    def batch_indices(self, step: int) -> list[int]:
        """Prompts of ``step``: a stream of seeded permutations, one per pass over the prompts."""
        b, n = self.cfg.batch_size, self.n_prompts
        out = []
        for j in range(step * b, (step + 1) * b):
            epoch, k = divmod(j, n)
            out.append(int(np.random.RandomState(self.cfg.seed + epoch).permutation(n)[k]))
        return out

    # -- state ----------------------------------------------------------------
    def fresh(self, overwrite: bool) -> dict:
        existing = [name for name in RUN_FILES if (self.out / name).exists()]
        if existing and not overwrite:
            raise GenlabError(f"{self.out} already holds a run ({', '.join(existing[:3])})",
                              hint="resume it (resume=True), overwrite it (overwrite=True), or choose another folder")
        for name in existing:
            path = self.out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.metrics_path, "")
        atomic_write_text(self.samples_path, "")
        self._write_config()
        return self._commit({"step": 0, "elapsed": 0.0, "kl_warned": False})

    def restore(self, t) -> dict:
        path = self.ckpt_dir / ckpt.LAST
        if not path.is_file():
            raise GenlabError(f"nothing to resume: {self.out} has no checkpoint (checkpoints/last.pt)",
                              hint="check the run folder, or start a new run there without resuming")
        saved = ckpt.load(path)
        ckpt.load_trainable(t.policy, saved["trainable"])
        t.value_head.load_state_dict(saved["value_head"])
        t.opt.load_state_dict(saved["optimizer"])
        t.kl.load_state_dict(saved["kl"])
        step = saved["state"]["step"]
        for p in (self.metrics_path, self.samples_path):
            rows = _read_jsonl(p)
            atomic_write_text(p, "".join(json.dumps(r) + "\n" for r in rows if r.get("step", 0) <= step))
        self._saved_step = step
        return self._commit(saved["state"])

    def _commit(self, state: dict) -> dict:
        self._committed = state
        self._t0 = time.perf_counter()
        return state

    def save(self, t, state: dict) -> None:
        ckpt.save(self.ckpt_dir / ckpt.LAST, {
            "state": state, "trainable": ckpt.trainable_state(t.policy), "value_head": t.value_head.state_dict(),
            "optimizer": t.opt.state_dict(), "kl": t.kl.state_dict(), "config": self.cfg.to_dict()})
        self._saved_step = state["step"]

    @contextlib.contextmanager
    def checkpoint_on_interrupt(self, t):
        """Ctrl-C: save the last finished step (the update and its bookkeeping run with Ctrl-C deferred)."""
        try:
            yield
        except ckpt.UpdateInterrupted:
            raise
        except KeyboardInterrupt:
            state = self._committed
            if state["step"] > 0 and state["step"] != self._saved_step:
                self.save(t, state)
            raise

    # -- after each step ----------------------------------------------------------
    def after_step(self, t, state: dict, step: int, row: dict) -> dict:
        from genlab.alignment.ppo import warn_if_kl_runs_away

        examples = row.pop("_examples")
        now = time.perf_counter()
        state = {**state, "step": step, "elapsed": state["elapsed"] + now - self._t0}
        row["elapsed_s"] = round(state["elapsed"], 3)
        _append(self.metrics_path, [row])
        if step == 1 or step % self.cfg.sample_every == 0 or step == self.cfg.steps:
            _append(self.samples_path, [{"step": step, "prompt": p, "completion": c, "score": s}
                                        for p, c, s in examples[:EXAMPLES]])
        if not state["kl_warned"] and warn_if_kl_runs_away(row, self.cfg):
            state["kl_warned"] = True
        if step % self.cfg.save_every == 0 or step == self.cfg.steps:
            self.save(t, state)
        return self._commit(state)  # (the clock restarts there: checkpointing is not training time)

    # -- end ------------------------------------------------------------------
    def history(self) -> list[dict]:
        return _read_jsonl(self.metrics_path)

    def finish(self, t, state: dict):
        from genlab.adapters import save_adapter
        from genlab.alignment.curves import plot_ppo_curves
        from genlab.alignment.ppo import PPOResult
        from genlab.tuning import methods

        history = self.history()
        final = history[-1] if history else {}
        adapter = save_adapter(t.policy, self.out / "adapter", method=self.cfg.method,
                               method_cfg=methods.make_config(self.cfg.method, dict(self.cfg.options)),
                               base_name=self.lm.name, base_hash=self.lm.model_hash, base_kind=self.lm.kind,
                               extra={"alignment": "ppo", "reward": self.reward.name,
                                      "ppo_config": self.cfg.to_dict(), "final": _summary(final)})
        if history:
            plot_ppo_curves(history, self.out / "ppo_curves.png")
        result = PPOResult(self.out, state["step"], round(state["elapsed"], 3), final, adapter, history)
        atomic_write_json(self.out / "results.json", {"steps": result.steps, "wall_s": result.wall_s,
                                                      "final": final, "adapter": str(adapter),
                                                      "reward": self.reward.name})
        return result

    def _write_config(self) -> None:
        from genlab.provenance import Provenance

        atomic_write_json(self.out / "config.json", {
            "model": self.lm.name, "model_hash": self.lm.model_hash,
            "reward": self.reward.name, "prompts": self.n_prompts, "ppo_config": self.cfg.to_dict(),
            "provenance": Provenance.capture().to_json()})


SUMMARY_KEYS = ("step", "reward", "kl", "kl_per_token", "kl_coef", "entropy", "response_len", "distinct_2")


def _summary(row: dict) -> dict:
    return {k: row[k] for k in SUMMARY_KEYS if k in row}


def _append(path: Path, rows: list[dict]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        raise ConfigError(f"cannot read {path.name}: {e}", where=str(path),
                          hint="the run folder is damaged: start the run again with overwrite=True") from None
