"""Built-in tasks against the embedded model's tokenizer (no weights loaded)."""

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smol_tokenizer():
    from genlab.models import load_tokenizer

    return load_tokenizer("smollm2-135m-instruct")


def test_support_summary_few_shot_fits_the_window_in_chat_format(smol_tokenizer):
    from genlab.tasks import load_task

    t = load_task("support-summary")
    reqs = t.requests("test", n=10, shots=3, tokenizer=smol_tokenizer, context_window=2048)
    assert all(r.prompt.startswith("<|im_start|>") and r.prompt.endswith("<|im_start|>assistant\n") for r in reqs)
    assert all(len(smol_tokenizer(r.prompt)["input_ids"]) <= 2048 - 96 for r in reqs)
    assert all(r.shots_used == 3 for r in reqs)  # 3 support dialogues fit easily in 2k tokens


def test_stats_with_the_embedded_tokenizer(smol_tokenizer):
    from genlab.data.stats import task_stats
    from genlab.tasks import load_task

    s = task_stats(load_task("support-extract"), smol_tokenizer)
    train = s["splits"][0]
    assert train["n"] == 4500 and 100 < train["prompt"][0] < 600 and train["dup_exact"] == 0
