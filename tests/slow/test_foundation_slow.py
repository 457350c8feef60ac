"""The embedded model through the registry: cold and warm cache, generation, chat template."""

import os
import subprocess
import sys
import time

import pytest

from genlab.generation import GenerationConfig, generate

pytestmark = pytest.mark.slow

LOAD = "import time; t=time.time(); from genlab.models import load; lm=load(); print('LOADED', round(time.time()-t, 1))"


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


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_greedy_answers_are_sensible(embedded, precision):
    outs = generate(embedded, [q for q, _ in SENSIBLE], GenerationConfig(max_new_tokens=40), chat=True,
                    precision=precision)
    for (q, want), o in zip(SENSIBLE, outs):
        assert want in o.text.lower(), (q, o.text)


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
