"""GGUF export round trips through genlab's own GGUF loading path (transformers' reader + the safetensors cache)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.errors import ConfigError, GenlabError

IDS = torch.tensor([[5, 17, 99, 230, 41, 7, 300, 12, 64, 3]])


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.fixture(scope="module")
def gqa_dir(tmp_path_factory):
    """Grouped-query attention (4 query heads, 2 kv heads), so q and k are permuted with different head counts."""
    from genlab.testing import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("gqa"), "causal", seed=3)


def _roundtrip(src, home, qtype, name=None):
    from genlab.deploy import ExportConfig, export_gguf
    from genlab.models import load

    lm = load(str(src), precision="fp32")
    path = export_gguf(lm, home / (name or f"m-{qtype}.gguf"), ExportConfig(type=qtype))
    return lm, load(str(path), precision="fp32"), path


def _weights(lm):
    return {k: v.detach() for k, v in lm.model.state_dict().items()}


def test_f32_round_trip_is_exact_and_undoes_the_qk_permutation(gqa_dir, home):
    lm, back, _ = _roundtrip(gqa_dir, home, "f32")
    a, b = _weights(lm), _weights(back)
    for k in a:
        assert torch.equal(a[k], b[k]), k  # q_proj/k_proj included: transformers' reverse permutation undoes ours
    with torch.no_grad():
        assert torch.equal(lm.model(IDS).logits, back.model(IDS).logits)


def test_without_the_permutation_the_round_trip_breaks(gqa_dir, home, monkeypatch):
    """The check above can fail: skip llama.cpp's q/k permutation and q/k come back scrambled."""
    from genlab.deploy import gguf_export

    monkeypatch.setattr(gguf_export, "permute", lambda w, n_head: w)
    lm, back, _ = _roundtrip(gqa_dir, home, "f32", "noperm.gguf")
    a, b = _weights(lm), _weights(back)
    q = "model.layers.0.self_attn.q_proj.weight"
    k = "model.layers.0.self_attn.k_proj.weight"
    assert not torch.equal(a[q], b[q]) and not torch.equal(a[k], b[k])
    with torch.no_grad():
        assert not torch.allclose(lm.model(IDS).logits, back.model(IDS).logits, atol=1e-5)


def test_permute_matches_llama_cpp_on_a_hand_example():
    from genlab.deploy.gguf_export import permute

    w = np.arange(8)[:, None].astype(np.float32)  # 1 head of dim 8: rows 0..7
    assert permute(w, 1)[:, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]  # halves interleaved into pairs


def test_f16_round_trip_within_half_precision_rounding(tiny_causal_dir, home):
    lm, back, _ = _roundtrip(tiny_causal_dir, home, "f16")
    for k, a in _weights(lm).items():
        b = _weights(back)[k]
        assert (a - b).abs().max() <= a.abs().max() * 2 ** -11 + 1e-7, k


def test_q8_0_round_trip_within_the_quantizer_bound(tiny_causal_dir, home):
    """q8_0: per block of 32, d = max|w|/127 stored in fp16, |w - d·q| ≤ d/2 + max|w|·2⁻¹¹ (fp16 scale rounding)."""
    lm, back, path = _roundtrip(tiny_causal_dir, home, "q8_0")
    checked = 0
    for k, a in _weights(lm).items():
        b = _weights(back)[k]
        if a.dim() == 1:
            assert torch.equal(a, b), k  # norms stay f32
            continue
        blocks_a, blocks_b = a.reshape(-1, 32), b.reshape(-1, 32)
        amax = blocks_a.abs().amax(1, keepdim=True)
        assert ((blocks_a - blocks_b).abs() <= amax / 254 + amax * 2 ** -11 + 1e-8).all(), k
        assert not torch.equal(a, b)
        checked += 1
    assert checked >= 8
    assert path.stat().st_size < 0.4 * (tiny_causal_dir / "model.safetensors").stat().st_size


def test_q4_0_loads_and_tokenizer_and_chat_template_survive(tiny_causal_dir, home):
    from gguf import GGUFReader

    lm, back, path = _roundtrip(tiny_causal_dir, home, "q4_0")
    types = {t.name: t.tensor_type.name for t in GGUFReader(str(path)).tensors}
    assert types["token_embd.weight"] == "Q8_0" and types["blk.0.ffn_up.weight"] == "Q4_0"
    assert types["blk.0.attn_norm.weight"] == "F32"
    for text in ["Hello, how are you today?", "Customer: my order 12345 arrived late.", "<|im_start|>user\nhi"]:
        assert back.tokenizer(text).input_ids == lm.tokenizer(text).input_ids
    assert back.tokenizer.chat_template == lm.tokenizer.chat_template
    with torch.no_grad():
        a, b = lm.model(IDS).logits, back.model(IDS).logits
    assert (a - b).abs().max() < 0.2 * a.abs().max()


def test_refuses_unknown_architecture_existing_output_and_bad_type(tiny_causal_dir, tiny_seq2seq, home):
    from genlab.deploy import ExportConfig, export_gguf

    with pytest.raises(GenlabError, match=r"'t5'.*\n.*supported: llama, mistral"):
        export_gguf(tiny_seq2seq, home / "t5.gguf")
    out = home / "x.gguf"
    out.write_text("keep me")
    with pytest.raises(GenlabError, match="already exists"):
        export_gguf(str(tiny_causal_dir), out)
    assert out.read_text() == "keep me"
    with pytest.raises(ConfigError, match="q8_0"):
        ExportConfig(type="q5_k")


def test_merged_lora_folder_exports(tiny_causal_dir, home):
    """A merged LoRA model is a plain folder: it exports and round-trips like any other."""
    from peft import LoraConfig, get_peft_model

    from genlab.models import load

    lm = load(str(tiny_causal_dir), precision="fp32")
    peft_model = get_peft_model(lm.model, LoraConfig(r=4, target_modules=["q_proj", "k_proj", "v_proj"],
                                                     init_lora_weights=False))
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(home / "merged")
    lm.tokenizer.save_pretrained(home / "merged")
    src, back, _ = _roundtrip(home / "merged", home, "f32", "merged.gguf")
    with torch.no_grad():
        assert torch.equal(src.model(IDS).logits, back.model(IDS).logits)
