"""Batch-invariant decoding: per-row attention equals SDPA's values, and a row's bf16 logits and greedy text do
not depend on the batch around it."""

from __future__ import annotations

import asyncio

import pytest
import torch
from serving_helpers import async_client, client, tiny_server

from genlab.errors import GenlabError
from genlab.generation import GenerationConfig, generate
from genlab.generation import invariant
from genlab.generation.invariant import batch_invariant
from genlab.models import load
from genlab.serving.batch import prefill_inputs
from genlab.serving.engine import Engine, EngineConfig
from genlab.testing import tiny_model, tiny_model_dir

# lengths 37, 5, 20, 64, 1: on the 2-core EPYC, plain SDPA gave two of these rows other bf16 logits in the batch
# than alone (in a 32-wide, 3-layer model), so the test below would catch a mode that changed nothing
ROWS = [torch.randint(5, 500, (n,), generator=torch.Generator().manual_seed(n)).tolist() for n in (37, 5, 20, 64, 1)]


def _logits(model, rows):
    inputs = prefill_inputs(rows, 4, "cpu")
    with torch.inference_mode():
        out = model(**{k: v for k, v in inputs.items() if k != "use_cache"}).logits
    width = inputs["input_ids"].shape[1]
    return [out[i, width - len(r):] for i, r in enumerate(rows)]  # each row's real positions


def test_rowwise_attention_gives_sdpa_values_on_a_padded_batch():
    model, _ = tiny_model("causal", seed=0, initializer_range=0.3)  # 4 heads over 2 kv heads (GQA)
    model.set_attn_implementation("sdpa")
    plain = _logits(model, ROWS)
    with batch_invariant(model):
        assert model.config._attn_implementation == invariant.NAME
        rowwise = _logits(model, ROWS)
    assert model.config._attn_implementation == "sdpa"
    for a, b in zip(plain, rowwise):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def bf16_wide_dir(tmp_path_factory):
    """An MLP wider than ``invariant.WIDE``, so the down projection's one-row calls get a second row."""
    return tiny_model_dir(tmp_path_factory.mktemp("wide"), "causal", intermediate_size=invariant.WIDE + 76,
                          num_hidden_layers=3, initializer_range=0.2, max_position_embeddings=1024)


@pytest.fixture(scope="module")
def bf16_wide(bf16_wide_dir):
    return load(str(bf16_wide_dir), precision="bf16")


def test_a_rows_bf16_logits_are_the_same_alone_and_in_any_batch(bf16_wide):
    model = bf16_wide.model
    with batch_invariant(model):
        together = _logits(model, ROWS)
        split = _logits(model, ROWS[2:]) + _logits(model, ROWS[:2])
        alone = [_logits(model, [r])[0] for r in ROWS]
    split = split[3:] + split[:3]
    for t, p, a in zip(together, split, alone):
        assert t.dtype == torch.bfloat16
        assert torch.equal(t, a) and torch.equal(p, a)


def test_bf16_greedy_text_does_not_move_with_the_batch_size(bf16_wide):
    prompts = ["a b c d e f g h", "hello", "one two three", "x y", "the quick brown fox jumps", "q"]
    cfg = GenerationConfig(max_new_tokens=12)
    texts = {bs: [g.texts[0] for g in generate(bf16_wide, prompts, cfg, batch_size=bs, batch_invariant=True)]
             for bs in (6, 4, 1)}
    assert texts[6] == texts[1] and texts[4] == texts[1]
    assert any(texts[1])


def test_one_row_calls_of_wide_linears_run_as_two_rows():
    model, _ = tiny_model("causal", intermediate_size=invariant.WIDE + 8)
    down = model.model.layers[0].mlp.down_proj
    seen = []
    down.register_forward_hook(lambda m, args, out: seen.append(tuple(args[0].shape)))  # what forward got
    x = torch.randn(1, 1, down.in_features)
    two = torch.cat([x, torch.zeros_like(x)])
    with batch_invariant(model), torch.no_grad():
        one = down(x)
        both = down(two)  # a real second row of zeros is not taken for the added one
    assert one.shape == (1, 1, down.out_features) and both.shape == (2, 1, down.out_features)
    assert seen == [(2, 1, down.in_features), (2, 1, down.in_features)]
    assert torch.equal(one[0], both[0])
    assert not down._forward_pre_hooks and len(down._forward_hooks) == 1  # only this test's own hook is left
    with torch.no_grad():
        down(x)
    assert seen[-1] == (1, 1, down.in_features)  # outside the block: as it was


def test_models_it_does_not_cover_get_a_clear_error():
    model, _ = tiny_model("causal")
    model.config.sliding_window = 16
    with pytest.raises(GenlabError, match="sliding-window"):
        with batch_invariant(model):
            pass
    assert model.config._attn_implementation != invariant.NAME
    with pytest.raises(GenlabError, match="encoder-decoder"):
        invariant.check_supported(tiny_model("seq2seq")[0])


def test_masks_and_attention_it_cannot_honour_are_refused():
    model, _ = tiny_model("causal")
    ids = torch.tensor([[5, 6, 7, 8]])
    holes = torch.tensor([[1, 0, 1, 1]])  # a virtual-token prefix before left padding (prompt tuning)
    with batch_invariant(model), torch.no_grad():
        with pytest.raises(GenlabError, match="together at the end"):
            model(input_ids=ids, attention_mask=holes)
        model(input_ids=ids, attention_mask=torch.tensor([[0, 0, 1, 1]]))  # left padding is what it serves
    q = torch.zeros(1, 4, 2, 8)
    with pytest.raises(GenlabError, match="softcap"):
        invariant.rowwise_attention(model.model.layers[0].self_attn, q, q, q, torch.tensor([[2], [2]]), softcap=30.0)


def test_the_engine_turns_prefix_caching_off(tiny_causal):
    assert Engine(tiny_causal, EngineConfig(batch_invariant=True)).prefixes is None
    assert Engine(tiny_causal, EngineConfig()).prefixes is not None


def test_bf16_server_answers_equal_offline_ones_under_concurrent_requests(bf16_wide_dir, bf16_wide):
    prompts = ["a b c d e f g h", "hello", "one two three", "x y", "the quick brown fox jumps", "q"]
    offline = [g.text for g in generate(bf16_wide, prompts, GenerationConfig(max_new_tokens=12), batch_size=1,
                                        batch_invariant=True)]
    with tiny_server(bf16_wide_dir, precision="bf16", batch_invariant=True) as (url, service):
        assert service.engine.prefixes is None
        together = client(url).completions.create(model="tiny", prompt=prompts, max_tokens=12, temperature=0)

        async def one_each():  # separate requests: they join the running batch at different steps
            async with async_client(url) as c:
                outs = await asyncio.gather(*(c.completions.create(model="tiny", prompt=p, max_tokens=12,
                                                                   temperature=0) for p in prompts))
            return [o.choices[0].text for o in outs]

        apart = asyncio.run(one_each())
    assert [c.text for c in sorted(together.choices, key=lambda c: c.index)] == offline
    assert apart == offline


def test_eval_scores_do_not_move_with_the_batch_size(bf16_wide):
    from genlab.evaluation import EvalConfig, evaluate

    def predictions(batch_size):
        cfg = EvalConfig(n=6, batch_size=batch_size, cache=False, n_resamples=10, batch_invariant=True,
                         generation={"max_new_tokens": 8})
        result = evaluate(bf16_wide, "support-summary", cfg)
        return [s["raw_prediction"] for s in result.samples], result.metrics

    (six, m6), (one, m1) = predictions(6), predictions(1)
    assert six == one and m6 == m1
