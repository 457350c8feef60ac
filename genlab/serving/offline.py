"""Offline generation on the serving engine: ``genlab generate`` and ``genlab eval`` decode as the server does.

Each prompt becomes ``n`` sequences (``num_return_sequences``), each with its own seed
(``seed + prompt·n + choice``, so a sample does not depend on which prompts shared its
batch), queued longest first. The engine runs them in the calling thread with
continuous batching: up to ``batch_size·n`` rows decode at once, and a row that
finishes is replaced at the next step by the next waiting one, so one long answer
never holds a batch of short ones.
"""

from __future__ import annotations

from typing import Callable

from genlab.errors import GenlabError
from genlab.serving.engine import Engine, EngineConfig
from genlab.serving.sequence import Delta, Failed, Finished, Sequence
from genlab.serving.structured import GrammarTokenizer


def generate_on_engine(lm, prompts, ids: list[list[int]], config, *, batch_size: int,
                       progress: Callable[[int], None] | None = None, on_batch=None,
                       on_text: Callable[[str], None] | None = None, prefix_caching: bool = True,
                       structure=None, batch_invariant: bool = False) -> list:
    """``Generation`` per prompt, in the caller's order; ``on_batch(indices, generations)`` receives finished
    prompts ``batch_size`` at a time (the last call may hold fewer), ``progress(1)`` each finished prompt,
    ``on_text(piece)`` the text as it is let out (as the server streams it); ``structure`` a
    ``structured.Constraint`` every answer keeps to."""
    from genlab.generation.generate import Generation, _cut_at_stop

    n = config.num_return_sequences
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first: OOM shows early
    engine = Engine(lm, EngineConfig(max_batch=min(batch_size, len(ids)) * n, max_queue=len(ids) * n,
                                     per_request_adapters=False, prefix_caching=prefix_caching,
                                     batch_invariant=batch_invariant))
    ends: dict[int, list] = {i: [None] * n for i in order}
    results: dict[int, Generation] = {}
    ready: list[int] = []

    def flush() -> None:
        if on_batch and ready:
            on_batch(list(ready), [results[i] for i in ready])
        ready.clear()

    def emit_of(i: int, seq: Sequence):
        def emit(event) -> None:
            if isinstance(event, Failed):
                raise GenlabError(f"generation failed on prompt {i + 1}: {event.message}")
            if isinstance(event, Delta) and on_text and event.text:
                on_text(event.text)
            if not isinstance(event, Finished):
                return
            text = _cut_at_stop(engine.tokenizer.decode(seq.out_ids, skip_special_tokens=True), config.stop)
            ends[i][seq.index] = (text, event.completion_tokens, event.reason)
            if all(ends[i]):
                texts, counts, reasons = zip(*ends[i])
                results[i] = Generation(prompts[i], list(texts), len(ids[i]), list(counts), list(reasons))
                ready.append(i)
                if progress:
                    progress(1)
                if len(ready) >= batch_size:
                    flush()
        return emit

    grammars = GrammarTokenizer(lm.tokenizer) if structure is not None else None
    seqs = []
    for i in order:
        for j in range(n):
            seq = Sequence(ids[i], config.replace(seed=config.seed + i * n + j), None, lambda e: None, index=j,
                           context_window=lm.context_window,
                           grammar=grammars.matcher(structure) if grammars else None)
            seq.emit = emit_of(i, seq)
            seqs.append(seq)
    engine.run_here(seqs)
    flush()
    return [results[i] for i in range(len(prompts))]
