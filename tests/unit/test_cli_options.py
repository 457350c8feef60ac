"""Typed options from YAML and KEY=VALUE text; run folders that refuse to be overwritten by accident."""

from __future__ import annotations

import pytest

from genlab.errors import ConfigError, GenlabError


def test_method_options_are_typed_by_the_methods_own_settings():
    from genlab.tuning.methods import make_config, parse_options

    opts = parse_options("ia3", ["target_modules=q_proj,v_proj", "feedforward_modules=down_proj"])
    assert opts == {"target_modules": ["q_proj", "v_proj"], "feedforward_modules": ["down_proj"]}
    assert make_config("ia3", opts).target_modules == ["q_proj", "v_proj"]  # a list, never a regex string
    assert parse_options("lora", ["r=16", "alpha=32", "dropout=0"]) == {"r": 16, "alpha": 32.0, "dropout": 0.0}
    assert parse_options("prefix", ["prefix_projection=true"]) == {"prefix_projection": True}
    assert parse_options("adapter", ["sites=mlp$", "activation=relu"]) == {"sites": "mlp$", "activation": "relu"}
    assert parse_options("selective", ["last_k=none", "norms=yes"]) == {"last_k": None, "norms": True}


@pytest.mark.parametrize("items,words", [
    (["bogus=1"], ["no option(s) bogus", "r (a whole number, default 8)"]),
    (["r=abc"], ["r: expected a whole number", "'abc'"]),
    (["r"], ["expected KEY=VALUE"]),
])
def test_bad_method_options_name_the_valid_keys(items, words):
    from genlab.tuning.methods import parse_options

    with pytest.raises(ConfigError) as e:
        parse_options("lora", items)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_make_config_from_python_checks_types_and_uses_parameter_names():
    from genlab.tuning.methods import make_config

    with pytest.raises(ConfigError) as e:
        make_config("lora", {"r": "8"})
    assert "r: expected a whole number" in str(e.value) and "method='lora'" in str(e.value)
    assert "--" not in str(e.value)


def test_train_config_yaml_with_a_wrong_type_names_file_field_and_type(tmp_path):
    from genlab.tuning import TrainConfig

    bad = tmp_path / "train.yaml"
    bad.write_text("lr: fast\nbatch_size: 2\n")
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_yaml(bad)
    assert str(e.value).startswith(f"{bad}: lr: expected a number, got 'fast'")
    for text, field in [("batch_size: 2.5\n", "batch_size"), ("compile: maybe\n", "compile"), ("max_steps: [1]\n", "max_steps")]:
        bad.write_text(text)
        with pytest.raises(ConfigError, match=f"{field}: expected"):
            TrainConfig.from_yaml(bad)
    bad.write_text("lr: 2e-4\nepochs: 2\n")  # YAML 1.1 reads 2e-4 as text; a number is meant
    cfg = TrainConfig.from_yaml(bad)
    assert cfg.lr == 2e-4 and cfg.epochs == 2.0


def test_run_folder_refuses_overwrite_and_empty_resume(tmp_path):
    from genlab.tuning.api import prepare_run_dir

    with pytest.raises(GenlabError, match="nothing to resume"):
        prepare_run_dir(tmp_path / "nothere", resume=True, overwrite=False)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "notes.txt").write_text("mine")
    with pytest.raises(GenlabError, match="already holds a run"):
        prepare_run_dir(run, resume=False, overwrite=False)
    with pytest.raises(GenlabError, match="nothing to resume"):
        prepare_run_dir(run, resume=True, overwrite=False)
    prepare_run_dir(run, resume=False, overwrite=True)
    assert not (run / "config.json").exists() and not (run / "checkpoints").exists()
    assert (run / "notes.txt").read_text() == "mine"  # only the run's own files go


def test_lazy_packages_list_their_public_api():
    import genlab.evaluation
    import genlab.generation
    import genlab.tuning

    for pkg, name in [(genlab.generation, "generate"), (genlab.tuning, "tune"), (genlab.evaluation, "evaluate")]:
        assert name in pkg.__all__ and name in dir(pkg) and name in (pkg.__doc__ or "")
        assert callable(getattr(pkg, name))
    import genlab.generation.generate  # noqa: F401  (the submodule must not shadow the function)
    from genlab.generation import generate

    assert callable(generate) and generate.__name__ == "generate"

