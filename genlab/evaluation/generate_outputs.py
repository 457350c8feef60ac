"""The ``generate`` output type: cached batched generation, post-processing, references."""

from __future__ import annotations

import time
from typing import Any

from genlab.evaluation import postprocess
from genlab.evaluation.cache import GenerationCache, cache_key, model_identity
from genlab.evaluation.outputs import ModelOutputs
from genlab.progress import Reporter


def task_origin(task) -> str:
    """The task's YAML file for error messages, else its name."""
    return getattr(task, "source", None) or f"task {task.name}"


def generation_config(task, overrides: dict | None = None):
    """The task's generation settings, with ``EvalConfig.generation`` on top."""
    from genlab.generation import GenerationConfig

    return GenerationConfig.from_dict({**dict(task.generation or {}), **(overrides or {})},
                                      where=f"{task_origin(task)}: generation")


def prompts_in_chat_format(lm, task, chat: bool | None) -> bool:
    """Whether ``task.requests`` wrapped the prompts in the chat template (recorded, not re-applied)."""
    wanted = chat if chat is not None else bool(getattr(task, "chat", False))
    return bool(wanted and lm.has_chat_template)


def cached_generate(lm, prompts: list[str], config, *, chat: bool, batch_size: int, precision: str,
                    use_cache: bool, progress=None, batch_invariant: bool = False) -> tuple[list[dict], dict[str, Any]]:
    """Generations for ``prompts`` (dicts with texts/prompt_tokens/new_tokens) and cache/timing facts.

    Each batch goes into the cache as soon as it is generated (one SQLite transaction per
    batch), so an interrupted eval keeps every finished generation and its re-run reuses them.
    """
    from genlab.generation import generate

    keys = []
    if use_cache:
        identity = model_identity(lm)
        keys = [cache_key(identity, p, config.to_dict(), chat=chat, precision=precision,
                          batch_invariant=batch_invariant) for p in prompts]
    cache = GenerationCache() if use_cache else None
    found = cache.get_many(keys) if cache is not None else {}
    todo = [i for i in range(len(prompts)) if not keys or keys[i] not in found]
    if progress and len(todo) < len(prompts):
        progress(len(prompts) - len(todo))
    new: dict[int, dict] = {}

    def keep(batch: list[int], gens) -> None:  # batch indexes into todo
        done = {todo[j]: {"texts": g.texts, "prompt_tokens": g.prompt_tokens, "new_tokens": g.new_tokens,
                          "finish_reasons": g.finish_reasons} for j, g in zip(batch, gens)}
        new.update(done)
        if cache is not None:
            cache.put_many({keys[i]: v for i, v in done.items()})

    t0 = time.perf_counter()
    if todo:
        generate(lm, [prompts[i] for i in todo], config, chat=chat, batch_size=batch_size,
                 precision=precision, progress=progress, on_batch=keep, batch_invariant=batch_invariant)
    seconds = time.perf_counter() - t0
    outs = [new[i] if i in new else found[keys[i]] for i in range(len(prompts))]
    n_new = sum(sum(v["new_tokens"]) for v in new.values())
    facts = {"hits": len(prompts) - len(todo), "misses": len(todo), "enabled": use_cache,
             "seconds": seconds, "new_tokens": n_new, "cached": [i not in new for i in range(len(prompts))]}
    return outs, facts


def run_generate(lm, task, requests, cfg, precision: str, reporter: Reporter) -> ModelOutputs:
    config = generation_config(task, cfg.generation)
    chat_on = prompts_in_chat_format(lm, task, cfg.chat)
    clean = postprocess.build(list(task.postprocess or []), where=f"{task_origin(task)}: postprocess")
    prompts = [r.prompt for r in requests]
    with reporter.task("generate", len(prompts)) as advance:
        # chat=False: genlab.tasks already put the prompts in the chat template when the task asks for it
        outs, facts = cached_generate(lm, prompts, config, chat=False, batch_size=cfg.batch_size,
                                      precision=precision, use_cache=cfg.cache, progress=advance,
                                      batch_invariant=cfg.batch_invariant)
    groups = [[clean(t) for t in o["texts"]] for o in outs] if config.num_return_sequences > 1 else None
    preds = [g[0] for g in groups] if groups else [clean(o["texts"][0]) for o in outs]
    refs = [r.target for r in requests]
    samples = [{"doc_id": r.doc_id, "prompt": r.prompt, "prediction": p, "raw_prediction": o["texts"][0],
                "reference": r.target, "shots_used": getattr(r, "shots_used", 0),
                "prompt_tokens": o["prompt_tokens"], "new_tokens": o["new_tokens"][0] if o["new_tokens"] else None,
                "cached": cached}
               for r, p, o, cached in zip(requests, preds, outs, facts["cached"])]
    for row, group, o in zip(samples, groups or [], outs):  # all k answers; the scores are their mean
        row.update(predictions=group, raw_predictions=o["texts"], new_tokens_each=o["new_tokens"])
    secs = facts["seconds"]
    throughput = {"examples_per_s": facts["misses"] / secs if secs > 0 else None,
                  "tokens_per_s": facts["new_tokens"] / secs if secs > 0 else None,
                  "new_tokens": facts["new_tokens"], "generated": facts["misses"], "cached": facts["hits"]}
    return ModelOutputs(preds, refs, samples, secs, throughput, {k: facts[k] for k in ("enabled", "hits", "misses")},
                        generation=config.to_dict(), chat=chat_on, groups=groups)
