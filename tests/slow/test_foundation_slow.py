"""The embedded model through the registry: cold and warm cache, generation, chat template."""

import json
import os
import subprocess
import sys
import time

import pytest

from genlab.generation import GenerationConfig, generate

pytestmark = pytest.mark.slow

# the library logs the cache build (logging, not print): a caller who wants to see it turns logging on
LOAD = ("import logging, time; logging.basicConfig(level=logging.INFO); t=time.time(); "
        "from genlab.models import load; lm=load(); print('LOADED', round(time.time()-t, 1))")


def _load_in_subprocess(home):
    env = {**os.environ, "GENLAB_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-c", LOAD], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_cold_cache_race_then_warm_then_corrupt_rebuild(tmp_path):
    racers = [_load_in_subprocess(tmp_path) for _ in range(2)]  # two processes race to build the cache
    outs = [p.communicate(timeout=600) for p in racers]
    assert all(p.returncode == 0 for p in racers), [o[1][-2000:] for o in outs]
    converted = sum("converting" in err for _, err in outs)
    assert converted == 1  # the lock made the second process wait and reuse the first's work
    cache = tmp_path / "models" / "smollm2-135m-instruct"
    assert sorted(p.name for p in cache.parent.iterdir() if not p.name.startswith(".")) == [cache.name]
    config = json.loads((cache / "config.json").read_text())  # serving tools pick the class from it
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config

    t = time.time()
    warm = _load_in_subprocess(tmp_path)
    out, err = warm.communicate(timeout=300)
    assert warm.returncode == 0 and "converting" not in err
    assert time.time() - t < 30  # a few seconds of load plus interpreter start

    weights = cache / "model.safetensors"
    with open(weights, "r+b") as f:  # flip bytes in the middle: same size, wrong content
        f.seek(weights.stat().st_size // 2)
        f.write(b"\x00" * 64)
    again = _load_in_subprocess(tmp_path)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0 and "corrupt" in err and "converting" in err


SENSIBLE = [
    ("What is the capital of France?", "paris"),
    ("What is 2 + 2? Answer with a number.", "4"),
    ("What color is the sky on a clear day?", "blue"),
]
# A bf16 next-token choice must agree with fp32 only where fp32 prefers its token by more than this
# (log-prob nats); below it the order is inside bf16's rounding noise and may flip with padding or threads.
CLEAR_MARGIN = 1.0


def test_greedy_answers_are_sensible_in_fp32(embedded):
    outs = generate(embedded, [q for q, _ in SENSIBLE], GenerationConfig(max_new_tokens=40), chat=True,
                    precision="fp32")
    for (q, want), o in zip(SENSIBLE, outs):
        assert want in o.text.lower(), (q, o.text)


def _chat_batch(lm, texts):
    from genlab.prompts import wrap_chat

    return lm.tokenizer([wrap_chat(lm.tokenizer, q) + a for q, a in texts], add_special_tokens=False,
                        return_tensors="pt", padding=True)


def _logprobs(lm, enc, precision):
    import torch

    from genlab.runtime import autocast

    with torch.inference_mode(), autocast(precision, lm.device):
        return torch.log_softmax(lm.model(**enc).logits.float(), -1)


def test_bf16_batched_logprobs_stay_close_to_fp32(embedded):
    """bf16 autocast on a left-padded batch of three: the path whose near-tie once flipped 'The' to 'L'."""
    answers = generate(embedded, [q for q, _ in SENSIBLE], GenerationConfig(max_new_tokens=20), chat=True,
                       precision="fp32")
    enc = _chat_batch(embedded, [(q, a.text) for (q, _), a in zip(SENSIBLE, answers)])
    ref, low = _logprobs(embedded, enc, "fp32"), _logprobs(embedded, enc, "bf16")
    real = enc["attention_mask"].bool()
    ids = enc["input_ids"][:, 1:]
    took32 = ref[:, :-1].gather(-1, ids[..., None])[..., 0][real[:, 1:]]
    took16 = low[:, :-1].gather(-1, ids[..., None])[..., 0][real[:, 1:]]
    assert (took16 - took32).abs().mean() < 0.15, (took16 - took32).abs().mean()  # measured 0.044
    top2 = ref.topk(2, -1).values
    clear = real & (top2[..., 0] - top2[..., 1] > CLEAR_MARGIN)
    assert clear.sum() > 50  # enough decided positions for the agreement below to mean something
    agree = (ref.argmax(-1) == low.argmax(-1))[clear]
    assert agree.all(), f"{int((~agree).sum())} of {int(clear.sum())} clear fp32 choices flipped under bf16"


def test_bf16_greedy_first_token_matches_fp32_where_fp32_is_decided(embedded):
    prompts = [q for q, _ in SENSIBLE]
    enc = _chat_batch(embedded, [(q, "") for q in prompts])
    top2 = _logprobs(embedded, enc, "fp32")[:, -1].topk(2, -1).values
    decided = [i for i in range(len(prompts)) if top2[i, 0] - top2[i, 1] > CLEAR_MARGIN]
    one = GenerationConfig(max_new_tokens=1)
    fp32 = generate(embedded, prompts, one, chat=True, precision="fp32")
    bf16 = generate(embedded, prompts, one, chat=True, precision="bf16", batch_size=3)
    assert decided, "no prompt has a decided first token; pick prompts whose answer is not a near tie"
    assert [bf16[i].text for i in decided] == [fp32[i].text for i in decided]


def test_chat_template_is_applied(embedded):
    from genlab.generation import encode_prompts

    ids = encode_prompts(embedded, ["Hi"], GenerationConfig(), chat=True)[0]
    text = embedded.tokenizer.decode(ids)
    assert "<|im_start|>user\nHi<|im_end|>" in text and text.rstrip().endswith("<|im_start|>assistant")


def test_generation_tour_runs(capsys):
    from genlab.cli import main

    assert main(["tour", "--fast"]) == 0
    out = capsys.readouterr().out
    assert "zero-shot" in out and "few-shot" in out and "greedy" in out
