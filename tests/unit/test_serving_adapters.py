"""Per-request adapters: LoRA adapters and the base share one forward (peft's adapter_names); other kinds get
their own batch. Each answer equals offline generation with that adapter alone (fp32, greedy)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from adapter_helpers import nudged_adapter
from serving_helpers import async_client, client, tiny_server

PROMPT = "Customer: my order 12345 arrived late. Agent:"


@pytest.fixture(scope="module")
def adapters(tiny_causal_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-adapters")
    return {"a": nudged_adapter(tiny_causal_dir, "lora", {"r": 4}, root / "a", seed=1)[0],
            "b": nudged_adapter(tiny_causal_dir, "lora", {"r": 4}, root / "b", seed=2)[0],
            "bn": nudged_adapter(tiny_causal_dir, "adapter", {"bottleneck": 8}, root / "bn", seed=3)[0]}


def _offline(model_dir, adapter, n: int) -> str:
    from genlab.generation import GenerationConfig, generate
    from genlab.models import load

    lm = load(str(model_dir), precision="fp32", adapter=adapter)
    return generate(lm, [PROMPT], GenerationConfig(max_new_tokens=n), precision="fp32",
                    backend="transformers")[0].text  # the reference the server is checked against


def test_mixed_adapter_batch_equals_each_adapter_alone(tiny_causal_dir, adapters):
    names = [None, "a", "b", "bn"]
    want = {name: _offline(tiny_causal_dir, adapters[name] if name else None, 24) for name in names}
    assert len(set(want.values())) == 4  # the adapters really change the answer

    async def all_at_once(url):
        c = async_client(url)
        outs = await asyncio.gather(*(c.completions.create(model=name or "tiny", prompt=PROMPT, max_tokens=24,
                                                           temperature=0) for name in names * 2))
        return [o.choices[0].text for o in outs]

    with tiny_server(tiny_causal_dir, adapters) as (url, service):
        assert [m.id for m in client(url).models.list().data] == ["tiny", "a", "b", "bn"]
        got = asyncio.run(all_at_once(url))
        assert got == [want[name] for name in names * 2]
        assert service.engine.most_adapters_in_a_step == 3  # base, a and b in one forward; bn in its own batch


def test_runtime_adapter_loading_only_from_allowed_folders(tiny_causal_dir, adapters, tmp_path):
    import shutil

    allowed = tmp_path / "allowed"
    shutil.copytree(adapters["a"], allowed / "late")
    with tiny_server(tiny_causal_dir) as (url, _):
        r = httpx.post(url + "/v1/load_lora_adapter", json={"lora_name": "late", "lora_path": str(allowed / "late")})
        assert r.status_code == 403 and "--allow-adapter-dir" in r.json()["error"]["message"]
    with tiny_server(tiny_causal_dir, allow_adapter_dirs=[str(allowed)]) as (url, _):
        r = httpx.post(url + "/v1/load_lora_adapter", json={"lora_name": "x", "lora_path": str(adapters["b"])})
        assert r.status_code == 403 and r.json()["error"]["code"] == "path_not_allowed"
        r = httpx.post(url + "/v1/load_lora_adapter", json={"lora_name": "late",
                                                             "lora_path": str(allowed / "late" / ".." / "late")})
        assert r.status_code == 200, r.text
        assert [m.id for m in client(url).models.list().data] == ["tiny", "late"]
        got = client(url).completions.create(model="late", prompt=PROMPT, max_tokens=24, temperature=0)
        assert got.choices[0].text == _offline(tiny_causal_dir, adapters["a"], 24)


def test_stacked_loras_run_each_row_on_its_own_adapter(tiny_causal_dir, adapters):
    """One forward of rows on the base, a and b equals each row run alone with its adapter (fp32, to rounding)."""
    import torch

    from genlab.adapters import set_adapter
    from genlab.models import load
    from genlab.serving.app import load_named_adapter
    from genlab.serving.lora_batch import stack

    lm = load(str(tiny_causal_dir), precision="fp32")
    for name in ("a", "b"):
        load_named_adapter(lm, adapters[name], name)
    stacked = stack(lm.model, ["a", "b"])
    ids = lm.tokenizer([PROMPT] * 4, return_tensors="pt")["input_ids"]
    rows = [None, "a", "b", "a"]
    with torch.no_grad():
        with stacked.rows(rows):
            mixed = lm.model(input_ids=ids).logits
        alone = []
        for i, name in enumerate(rows):
            set_adapter(lm, name)
            alone.append(lm.model(input_ids=ids[i:i + 1]).logits[0])
    assert all("forward" not in m.__dict__ for m in lm.model.modules())  # peft's own forward back after the block
    assert (alone[0] - alone[1]).abs().max() > 1e-2 and (alone[1] - alone[2]).abs().max() > 1e-2  # they differ
    torch.testing.assert_close(mixed, torch.stack(alone), rtol=1e-5, atol=1e-5)


def test_loras_that_cannot_be_stacked_keep_peft_mixed_batches(tiny_causal_dir, adapters, tmp_path):
    from genlab.models import load
    from genlab.serving.app import load_named_adapter
    from genlab.serving.lora_batch import stack

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    dora = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_causal_dir),
                          LoraConfig(r=4, use_dora=True, target_modules=["q_proj", "v_proj"]))
    dora.save_pretrained(tmp_path / "dora")
    lm = load(str(tiny_causal_dir), precision="fp32")
    load_named_adapter(lm, tmp_path / "dora", "dora")
    load_named_adapter(lm, adapters["a"], "a")
    assert stack(lm.model, ["a"]) is not None
    assert stack(lm.model, ["a", "dora"]) is None  # DoRA rescales the whole weight: not a stacked low-rank sum


LONG_PROMPT = "Support chat log, order 12345, shipped late. " + PROMPT


def _greedy_per_adapter(model_dir, adapters, names, n: int = 16) -> dict:
    """Each adapter's greedy answer to LONG_PROMPT through transformers' generate, loaded alone."""
    from genlab.generation import GenerationConfig, generate
    from genlab.models import load

    want = {}
    for name in set(names):
        lm = load(str(model_dir), precision="fp32", adapter=adapters[name] if name else None)
        want[name] = generate(lm, [LONG_PROMPT], GenerationConfig(max_new_tokens=n), precision="fp32",
                              backend="transformers")[0].text
    assert len(set(want.values())) == len(set(names))  # the adapters really change the answer
    return want


def test_prefix_store_serves_each_adapter_its_own_beginnings(tiny_causal_dir, adapters):
    """Requests one after another: the second on an adapter is fed from the store (the first's prompt),
    and never from another adapter's keys and values; loading an adapter empties the store."""
    names = [None, "a", "bn", None, "a", "bn"]
    want = _greedy_per_adapter(tiny_causal_dir, adapters, names)
    with tiny_server(tiny_causal_dir, adapters) as (url, service):
        c = client(url)
        outs = [c.completions.create(model=name or "tiny", prompt=LONG_PROMPT, max_tokens=16, temperature=0)
                for name in names]
        store = service.engine.prefixes
        assert [o.choices[0].text for o in outs] == [want[name] for name in names]
        n = len(service.engine.tokenizer(LONG_PROMPT)["input_ids"])
        # OpenAI's usage.prompt_tokens_details.cached_tokens: nothing the first time, all but the fed token after
        assert [o.usage.prompt_tokens_details.cached_tokens for o in outs] == [0, 0, 0, n - 1, n - 1, n - 1]
        stream = c.completions.create(model="a", prompt=LONG_PROMPT, max_tokens=4, temperature=0, stream=True,
                                      stream_options={"include_usage": True})
        assert [ch.usage for ch in stream][-1].prompt_tokens_details.cached_tokens == n - 1
        assert {adapter for adapter, _ in store.entries} == {None, "a", "bn"}
        assert store.reused_tokens == 4 * (n - 1)
        service.engine.call(lambda: None).result(timeout=10)  # what loading an adapter at runtime goes through
        assert not store.entries


def test_one_run_over_several_adapters_feeds_each_row_from_its_own_adapter(tiny_causal_dir, adapters, monkeypatch):
    from genlab.generation import GenerationConfig
    from genlab.models import load
    from genlab.serving import engine
    from genlab.serving.app import load_named_adapter
    from genlab.serving.sequence import Sequence

    sources = []
    real = engine.rows_cache

    def spy(kv_rows, mask, n):
        sources.append(len({id(kv) for kv in kv_rows}))
        return real(kv_rows, mask, n)

    monkeypatch.setattr(engine, "rows_cache", spy)
    names = [None, "a", "b"]
    want = _greedy_per_adapter(tiny_causal_dir, adapters, names)
    lm = load(str(tiny_causal_dir), precision="fp32")
    for name in ("a", "b"):
        load_named_adapter(lm, adapters[name], name)
    e = engine.Engine(lm)
    ids = lm.tokenizer(LONG_PROMPT)["input_ids"]

    def run(rows):
        seqs = [Sequence(ids, GenerationConfig(max_new_tokens=16), name, lambda event: None) for name in rows]
        e.run_here(seqs)
        return [lm.tokenizer.decode(s.out_ids, skip_special_tokens=True) for s in seqs]

    assert run(names) == [want[n] for n in names] and sources == []  # nothing stored yet: a plain prefill
    assert run(names + [None]) == [want[n] for n in names + [None]]  # one run, every row from the store
    assert sources == [3]
