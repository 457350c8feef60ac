import json

import pytest

from genlab.errors import ModelNotFoundError
from genlab.models import load, model_kind, resolve


def test_unknown_name_says_where_it_looked():
    with pytest.raises(ModelNotFoundError) as e:
        resolve("no-such-model")
    msg = e.value.render()
    assert "built-in names" in msg and "local path" in msg and "hub" in msg and "genlab models" in msg


def test_missing_hub_model_offline_says_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as e:
        resolve("someone/not-downloaded-model")
    assert "offline" in e.value.message and "HF_HUB_OFFLINE" in e.value.hint


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve(str(tmp_path))


@pytest.mark.parametrize("kind", ["causal", "seq2seq", "encoder"])
def test_local_folders_load_with_kind_and_stable_hash(kind, tmp_path):
    from genlab.testing import tiny_model_dir

    path = tiny_model_dir(tmp_path / kind, kind)
    a, b = load(str(path)), load(str(path))
    assert a.kind == kind and a.model_hash == b.model_hash and not a.model.training
    assert a.tokenizer.padding_side == ("left" if kind == "causal" else "right")
    other = tiny_model_dir(tmp_path / f"{kind}-2", kind, seed=1)
    assert load(str(other)).model_hash != a.model_hash  # different weights, different identity


def test_trust_remote_code_is_off_by_default(tmp_path):
    from genlab.testing import tiny_model_dir

    path = tiny_model_dir(tmp_path / "m", "causal")
    cfg = json.loads((path / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
    cfg["model_type"] = "evil-arch"
    (path / "config.json").write_text(json.dumps(cfg))
    (path / "evil.py").write_text("raise RuntimeError('remote code ran')\n")
    with pytest.raises(Exception) as e:
        load(str(path))
    assert "remote code ran" not in str(e.value) and "trust_remote_code" in str(e.value)


def test_gguf_cache_validation_detects_corruption(tmp_path):
    from genlab.models import gguf_cache
    from genlab.models.hashing import file_sha256

    d = tmp_path / "cache"
    d.mkdir()
    (d / "model.safetensors").write_bytes(b"x" * 100)
    (d / "config.json").write_text("{}")
    files = {"model.safetensors": {"size": 100, "sha256": file_sha256(d / "model.safetensors")},
             "config.json": {"size": 2}}
    (d / gguf_cache.MANIFEST).write_text(json.dumps({"format_version": gguf_cache.FORMAT_VERSION, "files": files}))
    assert gguf_cache._valid(d)
    (d / "model.safetensors").write_bytes(b"y" * 100)  # same size, different bytes
    assert not gguf_cache._valid(d)
    (d / "model.safetensors").write_bytes(b"x" * 99)
    assert not gguf_cache._valid(d)


def test_model_kind_from_config():
    from genlab.testing import tiny_config

    assert [model_kind(tiny_config(k)) for k in ("causal", "seq2seq", "encoder")] == ["causal", "seq2seq", "encoder"]
