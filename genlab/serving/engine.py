"""The engine: one thread owns the model and runs continuous batching.

Each turn of the loop (1) takes new sequences and control calls from the inbox,
(2) prefills waiting sequences into free slots, (3) runs one decode step for
every running batch. A sequence joins at the next step after it arrives and
leaves the step it finishes, so a long answer never holds up a short one.
Prompts that begin alike (a system prompt) are fed from the keys and values
already computed for that beginning (``genlab.serving.prefix``).

Adapters: LoRA adapters and the base share one batch; each row runs its own
adapter in one forward, the adapters stacked per layer
(``genlab.serving.lora_batch``; peft's ``adapter_names=[...]`` where they
cannot be stacked). Adapters peft cannot mix (IA3, prompt tuning, genlab's
bottleneck and weight adapters) get a batch of their own, activated with
``genlab.adapters.set_adapter`` before its step.

Request handlers never touch the model: they ``submit`` sequences and read
the events each sequence emits (``genlab.serving.sequence``).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import copy
import functools
import logging
import os
import queue
import threading
import weakref
from collections import Counter, deque
from dataclasses import dataclass
from typing import Callable

import torch

from genlab.serving.batch import Batch, prefill_inputs
from genlab.serving.prefix import PrefixStore, plain_layers, rows_cache, shared_beginning
from genlab.serving.sequence import (Failed, Finished, PromptLogprobs, Sequence, TokenLogprob, advance,
                                     edited_logits, needs_edit, pick_token, token_logprob)

log = logging.getLogger("genlab.serving")
MIX = "__mix__"  # the batch of the base and every LoRA adapter
PEFT_BASE = "__base__"  # peft's name for "no adapter" in adapter_names
# tokens (rows x longest prompt) per prefill forward. One padded forward over 16 support-summary prompts
# (155-268 tokens) took 5.5-7.4 s on the embedded model (fp32, 2-core Xeon, 9 runs); length-sorted runs of
# 2, 4 or 8 prompts 4.2-5.9 s; the 16 at one length without padding 3.7-4.8 s
PREFILL_TOKENS = 1024


@dataclass
class EngineConfig:
    max_batch: int = 16  # sequences decoding at once (over all batches)
    max_queue: int = 64  # sequences waiting for a slot; more get "busy" (HTTP 429)
    threads: int | None = None  # torch threads; None: every core this process may use
    per_request_adapters: bool = True  # False: every sequence runs on lm.model as it is (offline generate)
    prefix_caching: bool = True  # reuse the KV of prompt beginnings seen before (genlab.serving.prefix)
    batch_invariant: bool = False  # a row's logits do not depend on its batch (genlab.generation.invariant)


class QueueFull(Exception):
    pass


class ShuttingDown(Exception):
    pass


class Engine:
    def __init__(self, lm, config: EngineConfig | None = None):
        self.lm = lm
        self.config = config or EngineConfig()
        self.tokenizer = lm.tokenizer
        self.eos_ids = _eos_ids(lm)
        self.pad_id = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
        self.inbox: queue.Queue = queue.Queue()
        self.waiting: deque[Sequence] = deque()
        self.batches: dict[str, Batch] = {}
        self.active_group: str | None = "unset"
        self.steps = 0
        self.finished: Counter[str] = Counter()  # finish reasons so far (stop, length, cancelled)
        self.most_adapters_in_a_step = 0  # distinct adapters (base included) in one forward, the most seen
        self.loras: set[str] = set()
        if self.config.batch_invariant:
            from genlab.generation.invariant import check_supported

            check_supported(lm.model)
        # a prefill after a reused beginning is another attention call than a whole one: not batch-invariant
        self.prefixes = PrefixStore() if self.config.prefix_caching and not self.config.batch_invariant else None
        self.refresh_adapters()
        self._stopping = False
        self._looping = False  # running in a caller's thread (run_in_this_thread)
        self._thread = threading.Thread(target=self._run, name="genlab-engine", daemon=True)

    # -- handler side --------------------------------------------------------------------------------------------
    def start(self) -> "Engine":
        self._own_tokenizer()
        self._thread.start()
        atexit.register(_stop_at_exit, weakref.ref(self))
        return self

    def submit(self, seqs: list[Sequence]) -> None:
        """Queue sequences; raises ``QueueFull`` when too many wait, ``ShuttingDown`` while draining."""
        if self._stopping:
            raise ShuttingDown("the server is shutting down")
        if self.queued() + len(seqs) > self.config.max_queue:
            raise QueueFull(f"{self.queued()} sequences are waiting (limit {self.config.max_queue})")
        self.inbox.put(("seqs", seqs))

    def call(self, fn: Callable[[], object]) -> concurrent.futures.Future:
        """Run ``fn`` on the engine thread between two steps (e.g. load an adapter); returns its future."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self.inbox.put(("call", fn, fut))
        return fut

    def queued(self) -> int:
        return self.inbox.qsize() + len(self.waiting)

    def running(self) -> int:
        return sum(len(b) for b in self.batches.values())

    def kv_bytes(self) -> int:
        """Bytes the running batches' KV caches hold (0 when nothing runs)."""
        return sum(b.kv_bytes() for b in list(self.batches.values()))

    def stop(self, drain: bool = True, timeout: float | None = None) -> None:
        """Finish what is running and waiting (``drain``), or cancel it, then end the loop (and its thread)."""
        self._stopping = True
        if not drain:
            self.inbox.put(("cancel-all",))
        self.inbox.put(("wake",))
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run_in_this_thread(self) -> None:
        """The engine loop in the calling thread until ``stop`` (from another thread or a signal handler).

        ``genlab serve`` runs it on the main thread, uvicorn on another: on the 2-core Xeon the same decoding
        ran 25-40% slower on a thread of its own (16 greedy prompts, fp32: 7.8 s on the main thread vs 11.0 s
        on a new one, ~150k page faults a run there vs ~0: glibc gives a new thread its own malloc arena,
        whose heaps are unmapped when they empty)."""
        self._own_tokenizer()
        self._looping = True
        try:
            self._run()
        finally:
            self._looping = False

    def _own_tokenizer(self) -> None:
        """A copy for the loop: request handlers tokenize with ``lm.tokenizer`` on their own threads."""
        self.tokenizer = copy.deepcopy(self.lm.tokenizer)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() or self._looping

    def run_here(self, seqs: list[Sequence]) -> None:
        """Offline: run ``seqs`` to their end in the calling thread, by the same turns as the engine thread
        (for ``genlab generate`` and ``genlab eval``; an engine used this way is never ``start``ed)."""
        self.waiting.extend(seqs)
        with self._decoding():
            while self.waiting or self.batches:
                self._turn()

    # -- engine thread -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        torch.set_num_threads(self.config.threads or _cores())
        with self._decoding():
            while True:
                self._take_inbox(block=not (self.waiting or self.batches))
                if self._stopping and not (self.waiting or self.batches) and self.inbox.empty():
                    return
                self._turn()

    @contextlib.contextmanager
    def _decoding(self):
        from genlab.generation.invariant import batch_invariant
        from genlab.generation.packed import packed_linears

        state = self.lm.adapter_state
        outer = state.peft if self.config.per_request_adapters and state and state.peft else self.lm.model
        with torch.inference_mode(), packed_linears(outer, rows=self.config.max_batch), \
                (batch_invariant(outer) if self.config.batch_invariant else contextlib.nullcontext()):
            yield

    def _turn(self) -> None:
        """Prefill what waits into free slots, then one decode step for every running batch."""
        self._admit()
        for group, batch in list(self.batches.items()):
            self._decode(group, batch)
            if not batch:
                del self.batches[group]

    def _take_inbox(self, block: bool) -> None:
        try:
            item = self.inbox.get(timeout=0.5) if block else self.inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            self._handle(item)
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return

    def _handle(self, item) -> None:
        if item[0] == "seqs":
            self.waiting.extend(item[1])
        elif item[0] == "call":
            fn, fut = item[1], item[2]
            try:
                fut.set_result(fn())
            except Exception as e:  # noqa: BLE001 - the caller gets it through the future
                fut.set_exception(e)
            self.active_group = "unset"  # fn may have switched adapters (or changed weights: forget prefixes)
            self.refresh_adapters()
        elif item[0] == "cancel-all":
            for s in list(self.waiting) + [s for b in self.batches.values() for s in b.seqs]:
                s.cancelled = True

    def _admit(self) -> None:
        free = self.config.max_batch - self.running()
        chosen: dict[str, list[Sequence]] = {}
        while self.waiting and free > 0:
            seq = self.waiting.popleft()
            if seq.cancelled:
                _finish(seq, "cancelled", self.finished)
                continue
            chosen.setdefault(self.group_of(seq.adapter), []).append(seq)
            free -= 1
        for group, seqs in chosen.items():  # echo needs logits at every prompt position: its own prefill
            for kind in ([s for s in seqs if s.echo], [s for s in seqs if not s.echo]):
                for part in prefill_chunks(kind):
                    self._guarded(part, lambda: self._prefill(group, part))

    def _prefill(self, group: str, seqs: list[Sequence]) -> None:
        if any(s.echo for s in seqs):
            inputs = prefill_inputs([s.prompt_ids for s in seqs], self.pad_id, self.lm.device)
            out = self._forward(group, seqs, {**inputs, "logits_to_keep": 0})
            self._emit_prompt_logprobs(seqs, out.logits, inputs["attention_mask"])
            self._join(group, seqs, out, inputs)
            return
        for part, hits in self._by_reuse(group, seqs):  # each run fails alone: the other may have joined a batch
            self._guarded(part, functools.partial(self._prefill_part, group, part, hits))

    def _prefill_part(self, group: str, seqs: list[Sequence], hits: dict | None) -> None:
        inputs = prefill_inputs([s.prompt_ids for s in seqs], self.pad_id, self.lm.device)
        self._join(group, seqs, self._prefill_reusing(group, seqs, inputs, hits), inputs)

    def _join(self, group: str, seqs: list[Sequence], out, inputs: dict) -> None:
        """Rows just prefilled (``out``) sample their first token and join the group's running batch."""
        new = Batch()
        new.add(seqs, out.cache, inputs["attention_mask"], self._sample(seqs, out.logits[:, -1]))
        self._keep_unfinished(new)
        if new:
            self.batches.setdefault(group, Batch()).add(new.seqs, new.cache, new.mask, new.next_ids)

    def _by_reuse(self, group: str, seqs: list[Sequence]) -> list[tuple[list[Sequence], dict | None]]:
        """The rows as prefill runs: ``(rows, each adapter's reusable beginning)``, or ``(rows, None)`` for rows
        prefilled whole. Rows of adapters with a beginning to reuse and rows of adapters without one run apart, so
        one adapter's new prompt does not cost the others their reuse (``genlab.serving.prefix``)."""
        if self.prefixes is None:
            return [(seqs, None)]
        rows_of: dict[str | None, list[Sequence]] = {}
        for s in seqs:
            rows_of.setdefault(s.adapter, []).append(s)
        hits = {adapter: self._beginning(group, rows) for adapter, rows in rows_of.items()}
        fed = [s for s in seqs if hits[s.adapter] is not None]
        whole = [s for s in seqs if hits[s.adapter] is None]
        return ([(fed, {a: h for a, h in hits.items() if h is not None})] if fed else []) + \
            ([(whole, None)] if whole else [])

    def _prefill_reusing(self, group: str, seqs: list[Sequence], inputs: dict, hits: dict | None):
        """The run's prefill forward, fed only what follows the beginning each adapter's rows share with a stored
        prompt or with each other (``hits``; None: whole prompts); then each adapter's first prompt is stored when
        it reaches past what was reused (a conversation's next turn extends the stored one)."""
        store = self.prefixes
        if hits is None:
            out = self._forward(group, seqs, {**inputs, "logits_to_keep": 1})
            if store is None or not plain_layers(out.cache):
                self.prefixes = None  # sliding-window or quantized layers: this model's caches are not cut
                return out
        else:
            n = min(length for length, _ in hits.values())
            mask = inputs["attention_mask"]
            for s, real in zip(seqs, mask.sum(1).tolist()):
                s.cached_tokens = max(0, n - (mask.shape[1] - real))  # the row's tokens left of the cut
                store.reused_tokens += s.cached_tokens
            cache = rows_cache([hits[s.adapter][1] for s in seqs], mask, n)
            out = self._forward(group, seqs, dict(input_ids=inputs["input_ids"][:, n:], attention_mask=mask,
                                                  position_ids=inputs["position_ids"][:, n:], cache=cache,
                                                  use_cache=True, logits_to_keep=1))
        first_rows: dict[str | None, int] = {}
        for row, s in enumerate(seqs):
            first_rows.setdefault(s.adapter, row)
        for adapter, r in first_rows.items():
            ids, reused = seqs[r].prompt_ids, hits[adapter][0] if hits else 0
            if len(ids) - reused >= store.min_tokens:  # row r's real tokens are the cache's last len(ids) columns
                store.add(adapter, ids, [(layer.keys[r:r + 1, :, -len(ids):], layer.values[r:r + 1, :, -len(ids):])
                                         for layer in out.cache.layers])
        return out

    def _beginning(self, group: str, seqs: list[Sequence]):
        """``(P, per-layer KV)`` of a beginning these rows (one adapter) share: stored, or computed here (one row)
        and stored when two or more share one nothing stored matches; None when there is none."""
        store, prompts = self.prefixes, [s.prompt_ids for s in seqs]
        hit = store.match(seqs[0].adapter, prompts)
        if hit is None and len(seqs) > 1 and (shared := shared_beginning(prompts)) >= store.min_tokens:
            first = self._forward(group, seqs[:1], {**prefill_inputs([prompts[0][:shared]], self.pad_id,
                                                                     self.lm.device), "logits_to_keep": 1})
            if plain_layers(first.cache):
                hit = shared, [(layer.keys, layer.values) for layer in first.cache.layers]
                store.add(seqs[0].adapter, prompts[0][:shared], hit[1])
        return hit

    def _decode(self, group: str, batch: Batch) -> None:
        for i, s in enumerate(batch.seqs):
            if s.cancelled:
                s.finish = "cancelled"
        self._keep_unfinished(batch)
        if not batch:
            return
        seqs = list(batch.seqs)
        try:
            out = self._forward(group, seqs, batch.step_inputs())
            batch.next_ids = self._sample(seqs, out.logits[:, -1])
        except Exception as e:  # noqa: BLE001 - one bad batch must not take the engine down
            log.exception("decode step failed")
            for s in seqs:
                s.emit(Failed(s.index, f"generation failed: {type(e).__name__}: {e}"))
            batch.keep([])
            return
        self.steps += 1
        self._keep_unfinished(batch)

    def _keep_unfinished(self, batch: Batch) -> None:
        done = [i for i, s in enumerate(batch.seqs) if s.finish]
        if not done:
            return
        for i in done:
            _finish(batch.seqs[i], batch.seqs[i].finish, self.finished)
        batch.keep([i for i, s in enumerate(batch.seqs) if not s.finish])

    def _guarded(self, seqs: list[Sequence], fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a failing request never takes down the engine
            log.exception("prefill failed")
            for s in seqs:
                s.emit(Failed(s.index, f"generation failed: {type(e).__name__}: {e}"))

    # -- model ---------------------------------------------------------------------------------------------------
    def refresh_adapters(self) -> None:
        """Note which loaded adapters are LoRA (mixable in one batch) and stack them; call after loading one."""
        from genlab.serving.lora_batch import stack

        if self.prefixes is not None:
            self.prefixes.clear()
        per_request = self.config.per_request_adapters
        self.loras = {a for a in self.lm.adapters if per_request and _is_lora(self.lm, a)}
        self.stacked = stack(self.lm.model, sorted(self.loras)) if self.loras else None

    def group_of(self, adapter: str | None) -> str:
        if adapter is None or adapter in self.loras:
            return MIX
        return adapter

    def _forward(self, group: str, seqs: list[Sequence], inputs: dict):
        from genlab.adapters import set_adapter

        if group != self.active_group and self.config.per_request_adapters:
            if group == MIX:
                if self.lm.adapters:
                    set_adapter(self.lm, next((a for a in self.lm.adapters if a in self.loras), None))
            else:
                set_adapter(self.lm, group)
            self.active_group = group
        if group == MIX and self.loras:
            names = [s.adapter or PEFT_BASE for s in seqs]
            self.most_adapters_in_a_step = max(self.most_adapters_in_a_step, len(set(names)))
            if self.stacked:
                with self.stacked.rows([s.adapter for s in seqs]):
                    return self.lm.model(**inputs)
            inputs["adapter_names"] = names
        return self.lm.model(**inputs)

    def _sample(self, seqs: list[Sequence], logits: torch.Tensor) -> torch.Tensor:
        """Pick each row's next token with its own settings and generator; returns (B, 1)."""
        logits = logits.float()
        raw = logits
        edited = [row for row, s in enumerate(seqs) if needs_edit(s)]
        if edited:
            logits = logits.clone()
            for row in edited:
                logits[row] = edited_logits(logits[row], seqs[row], self.eos_ids)
        greedy = logits.argmax(-1).tolist()
        chosen = []
        for row, seq in enumerate(seqs):
            tok = pick_token(logits[row], seq.config, seq.generator, seq.rules.min_p) if seq.config.do_sample \
                else greedy[row]
            info = None
            if seq.logprobs is not None:
                info = token_logprob(raw[row].log_softmax(-1), tok, seq.logprobs, self._piece)
            seq.n_sampled += 1
            if seq.prompt_only:
                seq.finish = "length"
            else:
                advance(seq, tok, self.eos_ids, self.tokenizer, info)
            chosen.append(tok)
        return torch.tensor(chosen, device=logits.device)[:, None]

    def _emit_prompt_logprobs(self, seqs: list[Sequence], logits: torch.Tensor, mask: torch.Tensor) -> None:
        """Log-probability of each prompt token given the ones before it (row ``j-1`` predicts token ``j``)."""
        width = mask.shape[1]
        for row, seq in enumerate(seqs):
            if not seq.echo:
                continue
            pad = width - len(seq.prompt_ids)
            lp = logits[row, pad:width - 1].float().log_softmax(-1)
            k = seq.logprobs or 0
            toks = [token_logprob(lp[j - 1], t, k, self._piece) for j, t in enumerate(seq.prompt_ids) if j]
            first = TokenLogprob(seq.prompt_ids[0], self._piece(seq.prompt_ids[0]), None)
            seq.emit(PromptLogprobs(seq.index, [first] + toks))

    def _piece(self, token: int) -> str:
        return self.tokenizer.decode([token])


def prefill_chunks(seqs: list[Sequence], budget: int | None = None) -> list[list[Sequence]]:
    """``seqs`` by prompt length, cut into runs whose padded size (rows x longest prompt) stays within
    ``budget`` tokens (``PREFILL_TOKENS``); a longer prompt goes alone. Little padding, and activations that
    stay in cache."""
    budget = budget or PREFILL_TOKENS
    chunks: list[list[Sequence]] = []
    for seq in sorted(seqs, key=lambda s: len(s.prompt_ids)):
        if chunks and (len(chunks[-1]) + 1) * len(seq.prompt_ids) <= budget:
            chunks[-1].append(seq)
        else:
            chunks.append([seq])
    return chunks


def _stop_at_exit(ref: weakref.ref) -> None:
    """An engine still running when the interpreter exits is stopped first: a daemon thread left inside torch
    at interpreter shutdown aborts the process ("terminate called without an active exception")."""
    engine = ref()
    if engine is not None and engine.alive:
        engine.stop(drain=False, timeout=10)


def _finish(seq: Sequence, reason: str, stats: Counter | None = None) -> None:
    seq.finish = reason
    if stats is not None:
        stats[reason] += 1
    seq.emit(Finished(seq.index, reason, len(seq.prompt_ids), 0 if seq.prompt_only else seq.n_sampled,
                      seq.cached_tokens))


def _is_lora(lm, name: str) -> bool:
    from genlab.adapters import loaded_adapters

    return any(a.name == name and a.method == "lora" and a.saved_by == "peft" for a in loaded_adapters(lm))


def _eos_ids(lm) -> set[int]:
    ids = {lm.tokenizer.eos_token_id}
    gen_eos = getattr(getattr(lm.model, "generation_config", None), "eos_token_id", None)
    ids.update(gen_eos if isinstance(gen_eos, list) else [gen_eos])
    return {i for i in ids if i is not None}


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

