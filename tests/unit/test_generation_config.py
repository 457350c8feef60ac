import pytest

from genlab.errors import ConfigError
from genlab.generation import GenerationConfig

INVALID = [  # (settings, field named in the error)
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_new_tokens=2.5), "max_new_tokens"),
    (dict(do_sample=True, temperature=0), "temperature"),
    (dict(temperature=-1), "temperature"),
    (dict(top_k=-1), "top_k"),
    (dict(top_p=0), "top_p"),
    (dict(top_p=1.5), "top_p"),
    (dict(repetition_penalty=0), "repetition_penalty"),
    (dict(num_return_sequences=0), "num_return_sequences"),
    (dict(num_return_sequences=3), "num_return_sequences"),  # greedy
    (dict(stop=[""]), "stop"),
    (dict(seed="x"), "seed"),
]


@pytest.mark.parametrize("settings,field", INVALID)
def test_every_invalid_value_names_its_field(settings, field):
    with pytest.raises(ConfigError) as e:
        GenerationConfig(**settings)
    assert e.value.message.startswith(field + ":")


def test_sampling_with_zero_temperature_suggests_greedy():
    with pytest.raises(ConfigError) as e:
        GenerationConfig(do_sample=True, temperature=0)
    assert "greedy" in e.value.hint


def test_from_dict_rejects_unknown_keys_and_names_the_source():
    with pytest.raises(ConfigError) as e:
        GenerationConfig.from_dict({"max_tokens": 5}, where="gen.yaml")
    assert "max_tokens" in e.value.message and e.value.where == "gen.yaml"
    assert "max_new_tokens" in e.value.hint


def test_from_dict_validation_error_carries_where():
    with pytest.raises(ConfigError) as e:
        GenerationConfig.from_dict({"top_p": 2}, where="gen.yaml")
    assert e.value.where == "gen.yaml" and "top_p" in e.value.message


def test_same_object_from_yaml_and_flags(tmp_path):
    from genlab.cli.generate import build_config

    path = tmp_path / "gen.yaml"
    path.write_text("max_new_tokens: 20\ndo_sample: true\ntemperature: 0.5\nstop: [\"\\n\"]\n")
    cfg = build_config(path, {"temperature": 0.9, "top_k": None})
    assert cfg == GenerationConfig(max_new_tokens=20, do_sample=True, temperature=0.9, stop=["\n"])


def test_to_hf_round_trip():
    from genlab.testing import tiny_tokenizer

    tok = tiny_tokenizer()
    hf = GenerationConfig(do_sample=True, temperature=0.7, top_k=5, top_p=0.9, stop=["x"]).to_hf(tok)
    assert (hf.do_sample, hf.temperature, hf.top_k, hf.top_p, hf.stop_strings) == (True, 0.7, 5, 0.9, ["x"])
    greedy = GenerationConfig().to_hf(tok)
    assert greedy.do_sample is False and greedy.top_k is None


@pytest.mark.parametrize("top_k", [0, 50])
def test_top_k_zero_samples_from_the_whole_vocabulary(tiny_causal, top_k):
    # transformers fills an unset top_k with 50; top_k=0 must reach it as "off", or samples never leave the top 50
    import torch

    hf = GenerationConfig(do_sample=True, top_k=top_k, max_new_tokens=1).to_hf(tiny_causal.tokenizer)
    ids = torch.tensor([tiny_causal.tokenizer("The cat sat on the")["input_ids"]] * 64)
    torch.manual_seed(0)
    out = tiny_causal.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=hf,
                                     output_logits=True, return_dict_in_generate=True)
    logits, picked = out.logits[0], out.sequences[:, -1]
    rank = (logits > logits.gather(1, picked[:, None])).sum(1)  # 0 = the most likely token
    outside = int((rank >= 50).sum())
    # near-uniform logits of a random tiny model (vocab ~500): ~90% of whole-vocabulary draws rank >= 50
    assert outside > 16 if top_k == 0 else outside == 0
