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
    with pytest.raises(DataError, match=r'"prompt" \(a text or turns\) or "messages" field'):
        read_prompt_file(bad)
    bad.write_text('{"prompt": [{"role": "user", "content": "hi"}]}\n{"prompt": [{"role": "user"}]}\n')
    with pytest.raises(DataError, match=r'prompt\[0\]: a turn needs "role"') as e:  # conversational prompts
        read_prompt_file(bad)
    assert e.value.where == f"{bad}:2"
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


MORE = PROMPTS + ["Once upon a time", "Refund request for order 777:", "The weather today is", "Q: 2+2? A:"]


def test_engine_and_transformers_agree_on_text_counts_and_reasons(tiny_causal):
    """Offline generate decodes on the serving engine; transformers' generate is the reference (fp32, greedy).
    batch_size=3 over 8 prompts: rows that finish are refilled mid-decode (continuous batching)."""
    from genlab.generation.generate import _engine_cannot

    assert _engine_cannot(tiny_causal, None) is None  # "auto" takes the engine for this model
    free = generate(tiny_causal, MORE, GenerationConfig(max_new_tokens=14), batch_size=3, precision="fp32",
                    backend="transformers")
    # a stop string that cuts at least one answer, made of characters no prompt has: transformers' stop_strings
    # also match across the end of the prompt, the engine's (OpenAI's) only inside the answer
    stop = [next(s for o in free for k in range(1, len(o.text) - 1) for s in [o.text[k:k + 2]]
                 if s.strip() and not set(s) & set("".join(MORE)))]
    cfg = GenerationConfig(max_new_tokens=14, stop=stop)
    want = generate(tiny_causal, MORE, cfg, batch_size=3, precision="fp32", backend="transformers")
    got = generate(tiny_causal, MORE, cfg, batch_size=3, precision="fp32", backend="engine")
    assert [g.text for g in got] == [w.text for w in want]
    assert [g.finish_reasons for g in got] == [w.finish_reasons for w in want]
    assert [g.new_tokens for g in got] == [w.new_tokens for w in want]
    assert [g.prompt_tokens for g in got] == [w.prompt_tokens for w in want]
    assert "stop" in {r for g in got for r in g.finish_reasons} and "length" in {r for g in got for r in g.finish_reasons}


def test_engine_repetition_penalty_equals_transformers(tiny_causal):
    margins: list[float] = []
    enc = tiny_causal.tokenizer(MORE[4], return_tensors="pt")
    with torch.inference_mode():
        out = tiny_causal.model.generate(**enc, max_new_tokens=12, do_sample=False, repetition_penalty=1.5,
                                         pad_token_id=tiny_causal.tokenizer.pad_token_id, output_scores=True,
                                         return_dict_in_generate=True)
    margins = [float(t[0] - t[1]) for s in out.scores for t in [s[0].topk(2).values]]
    assert min(margins) > 1e-4, f"near-tie ({min(margins):.2e}): exact match would be luck"
    want = tiny_causal.tokenizer.decode(out.sequences[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    cfg = GenerationConfig(max_new_tokens=12, repetition_penalty=1.5)
    plain = generate(tiny_causal, [MORE[4]], cfg.replace(repetition_penalty=1.0), precision="fp32")[0].text
    got = generate(tiny_causal, [MORE[4]], cfg, precision="fp32", backend="engine")[0].text
    assert got == want and got != plain  # the penalty changed the answer, the same way in both


def test_engine_sampling_gives_each_choice_its_own_seed(tiny_causal):
    cfg = GenerationConfig(max_new_tokens=10, do_sample=True, temperature=1.5, seed=3, num_return_sequences=3)
    a = generate(tiny_causal, ["abc", "abc"], cfg, precision="fp32", backend="engine")
    assert len({*a[0].texts, *a[1].texts}) == 6  # same prompt twice, three choices each: six different draws
    assert [o.texts for o in generate(tiny_causal, ["abc", "abc"], cfg, precision="fp32")] == [o.texts for o in a]


def test_engine_hands_finished_prompts_over_batch_by_batch(tiny_causal):
    seen, ticks = [], []
    outs = generate(tiny_causal, MORE[:5], GenerationConfig(max_new_tokens=6), batch_size=2, precision="fp32",
                    on_batch=lambda idx, gens: seen.append((list(idx), [g.prompt for g in gens])),
                    progress=ticks.append)
    assert [len(idx) for idx, _ in seen] == [2, 2, 1] and sorted(i for idx, _ in seen for i in idx) == [0, 1, 2, 3, 4]
    assert all(MORE[i] == p for idx, ps in seen for i, p in zip(idx, ps))
    assert sum(ticks) == 5 and [o.prompt for o in outs] == MORE[:5]


def test_backend_choice_is_checked(tiny_causal, tiny_seq2seq):
    with pytest.raises(GenlabError, match="not a decoder-only model"):
        generate(tiny_seq2seq, ["hi"], backend="engine")
    with pytest.raises(GenlabError, match="unknown generation backend"):
        generate(tiny_causal, ["hi"], backend="vllm")
    assert generate(tiny_seq2seq, ["hi"], GenerationConfig(max_new_tokens=3))[0].new_tokens  # auto: transformers


@pytest.mark.parametrize("backend", ["engine", "transformers"])
def test_on_text_streams_the_answer_in_pieces(tiny_causal, backend):
    cfg = GenerationConfig(max_new_tokens=16, repetition_penalty=1.5)  # varied text from the tiny model
    free = generate(tiny_causal, [MORE[4]], cfg, precision="fp32")[0].text
    stop = free[len(free) // 2:len(free) // 2 + 2]
    pieces: list[str] = []
    out = generate(tiny_causal, [MORE[4]], cfg.replace(stop=[stop]), precision="fp32", on_text=pieces.append,
                   backend=backend)[0]
    assert stop not in out.text and pieces
    if backend == "engine":  # a piece a token; a tail that may begin a stop string is held back
        assert len(pieces) > 1 and "".join(pieces) == out.text
    else:  # transformers' streamer lets out whole words, and the stop string it generated
        assert "".join(pieces).startswith(out.text)
    with pytest.raises(GenlabError, match="one prompt"):
        generate(tiny_causal, ["a", "b"], on_text=print)


def test_structured_generation_keeps_every_answer_to_its_choices_regex_or_schema(tiny_causal, tiny_causal_dir,
                                                                                 tmp_path, capsys):
    import json
    import re

    from genlab.cli import main
    from genlab.errors import ConfigError
    from genlab.serving.structured import constraint

    colours = ["red", "dark green"]
    cfg = GenerationConfig(max_new_tokens=12, do_sample=True, num_return_sequences=3, seed=0)
    outs = generate(tiny_causal, ["Pick", "Choose one"], cfg, structure=constraint(choices=colours),
                    backend="transformers")  # structure always decodes on the engine
    assert all(t in colours for o in outs for t in o.texts) and {r for o in outs for r in o.finish_reasons} == {"stop"}
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
              "additionalProperties": False}
    (path := tmp_path / "s.json").write_text(json.dumps(schema))
    out = tmp_path / "out.jsonl"
    assert main(["generate", "-m", str(tiny_causal_dir), "Is it?", "--schema", str(path), "--out", str(out),
                 "--max-new-tokens", "20"]) == 0
    assert set(json.loads(json.loads(out.read_text())["output"])) == {"ok"}
    capsys.readouterr()
    assert main(["generate", "-m", str(tiny_causal_dir), "Call", "--regex", "[0-9]{2}-[0-9]{2}", "--json",
                 "--max-new-tokens", "10"]) == 0
    assert re.fullmatch("[0-9]{2}-[0-9]{2}", json.loads(capsys.readouterr().out)["output"])
    with pytest.raises(ConfigError, match="--schema is not valid JSON"):
        constraint(schema="{nope")
    assert main(["generate", "-m", str(tiny_causal_dir), "x", "--regex", "a", "--choice", "b"]) == 2
    assert "give one structured-output field, not --regex, --choice" in capsys.readouterr().err
