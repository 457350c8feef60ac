"""Prefix caching: a beginning prompts share is prefilled once, and the answers stay what they were."""

from __future__ import annotations

import torch

from genlab.generation import GenerationConfig, generate
from genlab.serving import engine
from genlab.serving.prefix import MIN_TOKENS, PrefixStore, shared_beginning

PREFIX = ("System: you are the support agent of a small shop. Answer briefly and politely, name the order "
          "number, and never promise a refund you cannot give. ")
ENDINGS = ["Hi", "Customer: my order 12345 arrived late and the box was open, the charger inside is missing, "
                 "and nobody answered my two emails last week. What can you do about it now?",
           "Q: where is order 777?", "Customer: thanks!"]


def _hf_greedy(lm, prompt: str, n: int, margins: list[float]) -> str:
    enc = lm.tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = lm.model.generate(**enc, max_new_tokens=n, do_sample=False, pad_token_id=lm.tokenizer.pad_token_id,
                                output_scores=True, return_dict_in_generate=True)
    margins += [float(t[0] - t[1]) for s in out.scores for t in [s[0].topk(2).values]]
    return lm.tokenizer.decode(out.sequences[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_a_shared_beginning_is_prefilled_once_and_the_answers_do_not_change(tiny_causal, monkeypatch):
    calls = []
    real = engine.rows_cache
    monkeypatch.setattr(engine, "rows_cache", lambda kv, mask, n: calls.append((mask, n)) or real(kv, mask, n))
    prompts = [PREFIX + e for e in ENDINGS]
    outs = generate(tiny_causal, prompts, GenerationConfig(max_new_tokens=12), precision="fp32", backend="engine")
    margins: list[float] = []
    want = [_hf_greedy(tiny_causal, p, 12, margins) for p in prompts]
    # another batch shape moves fp32 logits by ~1e-6; exact text equality is only meaningful above that noise
    assert min(margins) > 1e-4, f"the fixture has a near-tie ({min(margins):.2e}); exact match would be luck"
    assert [o.text for o in outs] == want
    assert len(calls) == 1  # one run, fed from its shared beginning
    mask, n = calls[0]
    ids = [tiny_causal.tokenizer(p)["input_ids"] for p in prompts]
    assert n == shared_beginning(ids) >= MIN_TOKENS
    assert ((mask.shape[1] - mask.sum(1)) >= n).any()  # a row whose padding covers the whole reused part
    off = generate(tiny_causal, prompts, GenerationConfig(max_new_tokens=12), precision="fp32", backend="engine",
                   prefix_caching=False)
    assert len(calls) == 1 and [o.text for o in off] == want  # turned off: whole prompts prefilled


def test_fed_rows_get_the_logits_and_cache_of_a_whole_prefill(tiny_causal):
    """Every row, however much padding it has, ends with what prefilling its whole prompt gives."""
    from genlab.serving.batch import prefill_inputs
    from genlab.serving.prefix import rows_cache

    model, tok = tiny_causal.model, tiny_causal.tokenizer
    ids = [tok(PREFIX + e)["input_ids"] for e in ENDINGS]
    n = shared_beginning(ids)
    inputs = prefill_inputs(ids, tok.pad_token_id, "cpu")
    mask = inputs["attention_mask"]
    with torch.inference_mode():
        whole = model(**inputs)
        first = model(**prefill_inputs([ids[0][:n]], tok.pad_token_id, "cpu"))
        kv = [(layer.keys, layer.values) for layer in first.cache.layers]
        fed = model(input_ids=inputs["input_ids"][:, n:], attention_mask=mask,
                    position_ids=inputs["position_ids"][:, n:], cache=rows_cache([kv] * len(ids), mask, n),
                    use_cache=True)
    torch.testing.assert_close(fed.logits[:, -1], whole.logits[:, -1], rtol=1e-5, atol=1e-5)
    real = mask[:, None, :, None].bool()
    for a, b in zip(fed.cache.layers, whole.cache.layers):
        torch.testing.assert_close(a.keys * real, b.keys * real, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a.values * real, b.values * real, rtol=1e-5, atol=1e-5)


def _kv(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.zeros(1, 2, n, 4), torch.zeros(1, 2, n, 4))]  # 64 bytes a position


def test_the_store_matches_per_adapter_and_keeps_recent_beginnings_within_its_budget():
    store = PrefixStore(budget_bytes=64 * 50, min_tokens=4)
    store.add(None, list(range(20)), _kv(20))
    store.add("a", list(range(20)), _kv(20))
    length, kv = store.match("a", [list(range(10)) + [99], list(range(15))])
    assert length == 10 and kv[0][0].shape[2] == 20  # the shortest shared part, the stored KV whole
    assert store.match("b", [list(range(10))]) is None  # another adapter's keys/values never serve
    assert store.match(None, [[0, 1, 2, 50]]) is None  # 3 shared tokens: under min_tokens
    assert store.match(None, [list(range(5))]) == (4, store.entries[(None, tuple(range(20)))])  # one token is fed
    store.add("a", [1, 2], _kv(2))  # too short to keep
    store.add(None, list(range(100, 130)), _kv(30))  # over the budget: the least recently matched goes
    assert list(store.entries) == [(None, tuple(range(20))), (None, tuple(range(100, 130)))]
    assert store.nbytes() == 64 * 50
    store.add(None, list(range(25)), _kv(25))  # extends the first entry: replaces it; then the oldest goes
    assert list(store.entries) == [(None, tuple(range(25)))] and store.nbytes() == 64 * 25
    store.clear()
    assert not store.entries and store.nbytes() == 0


def test_the_store_copies_a_batch_rows_keys_but_keeps_a_beginning_computed_alone():
    store = PrefixStore(min_tokens=4)
    alone, batch = _kv(8), [(torch.randn(3, 2, 12, 4), torch.randn(3, 2, 12, 4))]
    store.add(None, list(range(8)), alone)
    store.add("a", list(range(8)), [(k[1:2, :, -8:], v[1:2, :, -8:]) for k, v in batch])
    kept = store.entries[(None, tuple(range(8)))][0][0]
    copied = store.entries[("a", tuple(range(8)))][0][0]
    assert kept.data_ptr() == alone[0][0].data_ptr()  # all of its storage: no copy
    assert copied.untyped_storage().nbytes() == copied.numel() * 4 and torch.equal(copied, batch[0][0][1:2, :, -8:])
    assert store.nbytes() == 2 * 64 * 8


def test_each_turn_of_a_conversation_is_fed_from_the_turn_before(tiny_causal):
    """A chat's next prompt extends the last one: it reuses all of it, and its entry replaces the one it extends."""
    from genlab.serving.engine import Engine, EngineConfig
    from genlab.serving.sequence import Sequence

    tok = tiny_causal.tokenizer
    turns = [PREFIX + "Customer: hi, order 777 is late.",
             " Agent: sorry, let me check the tracking for you. Customer: it says delivered but nothing came.",
             " Agent: I will open a claim with the carrier today. Customer: thanks, how long will that take?"]
    prompts = ["".join(turns[:k + 1]) for k in range(len(turns))]
    ids = [tok(p)["input_ids"] for p in prompts]
    assert all(ids[k + 1][:len(ids[k])] == ids[k] for k in range(len(ids) - 1))  # each extends the last
    e = Engine(tiny_causal, EngineConfig(per_request_adapters=False))
    seqs = []
    for prompt_ids in ids:
        seqs.append(Sequence(prompt_ids, GenerationConfig(max_new_tokens=8), None, lambda event: None))
        e.run_here(seqs[-1:])
    assert [s.cached_tokens for s in seqs] == [0, len(ids[0]), len(ids[1])]
    assert list(e.prefixes.entries) == [(None, tuple(ids[2]))]
    margins: list[float] = []
    want = [_hf_greedy(tiny_causal, p, 8, margins) for p in prompts]
    assert min(margins) > 1e-4, f"the fixture has a near-tie ({min(margins):.2e}); exact match would be luck"
    assert [tok.decode(s.out_ids, skip_special_tokens=True) for s in seqs] == want


def _mixed_admission(tiny_causal_dir, tmp_path, events=None):
    """An engine over LoRA adapters "a" and "b" that has stored a's first prompt, and the next admission: rows on
    a, b, a (``events`` collects what each row emits). Returns (adapter paths, prompt ids, engine, sequences)."""
    from adapter_helpers import nudged_adapter

    from genlab.models import load
    from genlab.serving.app import load_named_adapter
    from genlab.serving.engine import Engine, EngineConfig
    from genlab.serving.sequence import Sequence

    paths = {name: nudged_adapter(tiny_causal_dir, "lora", {"r": 4}, tmp_path / name, seed=seed)[0]
             for name, seed in (("a", 1), ("b", 2))}
    lm = load(str(tiny_causal_dir), precision="fp32")
    for name, path in paths.items():
        load_named_adapter(lm, path, name)
    ids = [lm.tokenizer(PREFIX + e)["input_ids"] for e in ENDINGS]
    e = Engine(lm, EngineConfig())
    config = GenerationConfig(max_new_tokens=8)
    e.run_here([Sequence(ids[0], config, "a", lambda event: None)])  # stores a's prompt
    events = events if events is not None else {}
    seqs = [Sequence(ids[i], config, name, lambda event, i=i: events.setdefault(i, []).append(event))
            for i, name in ((1, "a"), (2, "b"), (3, "a"))]
    return paths, ids, e, seqs


def test_an_adapter_without_a_stored_beginning_does_not_cost_another_its_reuse(tiny_causal_dir, tmp_path):
    """One admission, rows on two LoRA adapters: "a" has a stored beginning, "b" none. The "a" rows are fed from
    theirs and the "b" rows are prefilled whole, each answer as its adapter alone would give it (fp32, greedy)."""
    from genlab.models import load

    paths, ids, e, seqs = _mixed_admission(tiny_causal_dir, tmp_path)
    tok = e.tokenizer
    e.run_here(seqs)
    shared = shared_beginning(ids)
    # the "a" rows ran as a batch of their own, left-padded to the longer one: the shorter row reuses the columns
    # of the shared beginning its padding leaves
    short = shared - (len(ids[1]) - len(ids[3]))
    assert [s.cached_tokens for s in seqs] == [shared, 0, short] and short > 0
    margins: list[float] = []
    want = [_hf_greedy(load(str(tiny_causal_dir), precision="fp32", adapter=paths[s.adapter]), PREFIX + ENDINGS[i],
                       8, margins) for i, s in zip((1, 2, 3), seqs)]
    assert min(margins) > 1e-4, f"the fixture has a near-tie ({min(margins):.2e}); exact match would be luck"
    assert [tok.decode(s.out_ids, skip_special_tokens=True) for s in seqs] == want


def test_a_failing_prefill_run_fails_its_own_rows_only(tiny_causal_dir, tmp_path, monkeypatch):
    """The "b" rows' whole prefill raises: they get an error, while the "a" rows, fed from their beginning in a
    run of their own, finish normally."""
    from genlab.serving.engine import Engine
    from genlab.serving.sequence import Failed

    events: dict = {}
    _, _, e, seqs = _mixed_admission(tiny_causal_dir, tmp_path, events)
    real = Engine._prefill_reusing

    def broken(self, group, part, inputs, hits):
        if hits is None:
            raise RuntimeError("boom")
        return real(self, group, part, inputs, hits)

    monkeypatch.setattr(Engine, "_prefill_reusing", broken)
    e.run_here(seqs)
    failed = {i for i, got in events.items() if any(isinstance(x, Failed) for x in got)}
    assert failed == {2}  # the b row
    assert seqs[0].finish and seqs[2].finish and len(seqs[0].out_ids) == len(seqs[2].out_ids) == 8
