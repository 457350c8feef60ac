import pytest
import torch

from genlab.errors import DataError, GenlabError
from genlab.generation import GenerationConfig, generate

PROMPTS = ["The cat sat on the", "Hello, how are", "Customer: my order 12345 arrived late.", "abc"]


def hf_greedy(lm, prompt, n, margins=None):
    """transformers' greedy text; appends each step's top-1 minus top-2 logit to ``margins``."""
    enc = lm.tokenizer(prompt, return_tensors="pt").to(lm.device)
    with torch.inference_mode():
        out = lm.model.generate(**enc, max_new_tokens=n, do_sample=False, pad_token_id=lm.tokenizer.pad_token_id,
                                output_scores=True, return_dict_in_generate=True)
    if margins is not None:
        margins += [float(t[0] - t[1]) for s in out.scores for t in [s[0].topk(2).values]]
    seq = out.sequences
    new = seq[0, enc["input_ids"].shape[1]:] if lm.kind == "causal" else seq[0]
    return lm.tokenizer.decode(new, skip_special_tokens=True)


@pytest.mark.parametrize("fixture", ["tiny_causal", "tiny_seq2seq"])
def test_greedy_equals_transformers_generate_in_batches(fixture, request):
    lm = request.getfixturevalue(fixture)
    outs = generate(lm, PROMPTS, GenerationConfig(max_new_tokens=12), batch_size=3, precision="fp32")
    margins: list[float] = []
    want = [hf_greedy(lm, p, 12, margins) for p in PROMPTS]
    # left padding moves fp32 logits by ~1e-6; exact text equality is only meaningful above that noise
    assert min(margins) > 1e-4, f"the fixture has a near-tie ({min(margins):.2e}); exact match would be luck"
    assert [o.text for o in outs] == want
    assert [o.prompt for o in outs] == PROMPTS  # caller's order survives length sorting


def test_seeded_sampling_is_reproducible_and_seed_matters(tiny_causal):
    cfg = GenerationConfig(max_new_tokens=10, do_sample=True, temperature=1.5, seed=7, num_return_sequences=3)
    a = generate(tiny_causal, PROMPTS, cfg, precision="fp32")
    b = generate(tiny_causal, PROMPTS, cfg, precision="fp32")
    c = generate(tiny_causal, PROMPTS, cfg.replace(seed=8), precision="fp32")
    assert [o.texts for o in a] == [o.texts for o in b]
    assert [o.texts for o in a] != [o.texts for o in c]
    assert all(len(o.texts) == 3 for o in a)


def test_stop_strings_cut_the_text(tiny_causal):
    free = generate(tiny_causal, ["The cat"], GenerationConfig(max_new_tokens=20), precision="fp32")[0].text
    assert len(free) > 4
    stop = free[2:4]
    cut = generate(tiny_causal, ["The cat"], GenerationConfig(max_new_tokens=20, stop=[stop]), precision="fp32")[0]
    assert stop not in cut.text and free.startswith(cut.text)


def test_bf16_autocast_runs_and_counts_tokens(tiny_causal):
    out = generate(tiny_causal, PROMPTS[:2], GenerationConfig(max_new_tokens=5), precision="bf16")
    assert all(1 <= o.new_tokens[0] <= 5 and o.prompt_tokens > 0 for o in out)


def test_chat_wraps_with_template(tiny_causal):
    from genlab.generation import encode_prompts

    ids = encode_prompts(tiny_causal, ["hi"], GenerationConfig(), chat=True)[0]
    text = tiny_causal.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>user\nhi<|im_end|>") and text.endswith("assistant\n")


def test_empty_prompt_is_an_error(tiny_causal):
    with pytest.raises(GenlabError, match="prompt 2 is empty"):
        generate(tiny_causal, ["ok", "  "])


def test_prompt_longer_than_context_errors_or_truncates(tiny_causal):
    long = "The cat sat on the mat. " * 200  # tiny model's context is 256 tokens
    with pytest.raises(GenlabError, match="context window of 256") as e:
        generate(tiny_causal, [long], GenerationConfig(max_new_tokens=8))
    assert "--truncate" in e.value.hint
    out = generate(tiny_causal, [long], GenerationConfig(max_new_tokens=8), on_overflow="truncate")[0]
    assert out.prompt_tokens == 256 - 8


def test_encoder_only_model_cannot_generate(tiny_encoder_dir):
    from genlab.models import load

    with pytest.raises(GenlabError, match="encoder-only"):
        generate(load(str(tiny_encoder_dir)), ["hi"])


def test_prompt_file_errors_name_file_and_line(tmp_path):
    from genlab.cli.generate import read_prompt_file

    bad = tmp_path / "p.jsonl"
    bad.write_bytes(b'{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n')
    with pytest.raises(DataError) as e:
        read_prompt_file(bad)
    assert e.value.where == f"{bad}:2" and "UTF-8" in e.value.message
    bad.write_text('{"prompt": "ok"}\n{"prompt": \n')
    with pytest.raises(DataError) as e:
        read_prompt_file(bad)
    assert e.value.where == f"{bad}:2" and "malformed JSON" in e.value.message
    bad.write_text('{"text": "ok"}\n')
    with pytest.raises(DataError, match='"prompt" field'):
        read_prompt_file(bad)
    good = tmp_path / "p.txt"
    good.write_text("one\n\ntwo\n")
    assert read_prompt_file(good) == ["one", "two"]


def test_generate_cli_writes_jsonl(tiny_causal_dir, tmp_path):
    import json

    from genlab.cli import main

    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "The cat"}\n"Hello"\n')
    out = tmp_path / "out.jsonl"
    assert main(["generate", "-m", str(tiny_causal_dir), "--file", str(prompts), "--out", str(out),
                 "--max-new-tokens", "4", "--no-chat"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prompt"] for r in rows] == ["The cat", "Hello"] and all(isinstance(r["output"], str) for r in rows)


def test_cli_reports_invalid_config_with_exit_2(tiny_causal_dir, capsys):
    from genlab.cli import main

    assert main(["generate", "-m", str(tiny_causal_dir), "hi", "--sample", "--temperature", "0"]) == 2
    assert "temperature" in capsys.readouterr().err


def test_single_prompt_streams_to_stdout(tiny_causal_dir, capsys):
    from genlab.cli import main
    from genlab.models import load

    lm = load(str(tiny_causal_dir), precision="fp32")
    expected = generate(lm, ["The cat"], GenerationConfig(max_new_tokens=6), precision="fp32")[0].text
    assert main(["generate", "-m", str(tiny_causal_dir), "The cat", "--max-new-tokens", "6", "--no-chat", "--fp32"]) == 0
    assert capsys.readouterr().out.strip() == expected.strip()
