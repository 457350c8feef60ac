"""``genlab align ppo``: the PPO loop from the command line, on a tiny random model."""

from __future__ import annotations

import json

import pytest
from genlab.cli import main

ROWS = ['"Tell me about cats."',
        json.dumps({"prompt": "Name a colour.", "id": 1}),
        json.dumps({"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}),
        json.dumps({"messages": [{"role": "user", "content": "Count to three."}]})]
FAST = ["--steps", "2", "--batch-size", "4", "--mini-batch-size", "2", "--ppo-epochs", "1", "--max-new-tokens", "4",
        "--precision", "fp32"]


def _ppo(capsys, *args):
    """Exit code and everything printed, as a user of ``genlab align ppo ...`` sees them."""
    code = main(["align", "ppo", *args])
    got = capsys.readouterr()
    return code, got.out + got.err


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(ROWS) + "\n", encoding="utf-8")
    return path


def test_align_ppo_runs_with_the_flags_it_was_given(tiny_causal_dir, prompts_file, tmp_path, capsys):
    out = tmp_path / "ppo"
    code, output = _ppo(capsys, "-m", str(tiny_causal_dir), "-p", str(prompts_file), "--reward", "keywords:cat",
                        "--out", str(out), *FAST, "--kl-coef", "0.05", "--target-kl", "none", "--set", "vf_coef=0.25",
                        "-o", "r=4")
    assert code == 0, output
    assert "first → last step" in output and "genlab eval --adapter" in output
    config = json.loads((out / "config.json").read_text())
    cfg = config["ppo_config"]
    assert (cfg["kl_coef"], cfg["target_kl"], cfg["vf_coef"], cfg["steps"]) == (0.05, None, 0.25, 2)
    assert cfg["options"]["r"] == 4 and config["prompts"] == 4
    assert json.loads((out / "results.json").read_text())["steps"] == 2
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    # every prompt shape reached the model through the chat template
    assert samples and all(s["prompt"].startswith("<|im_start|>") for s in samples)
    assert {s["prompt"] for s in samples} == {
        "<|im_start|>user\nTell me about cats.<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user\nCount to three.<|im_end|>\n<|im_start|>assistant\n"}


def test_align_ppo_from_an_adapter_starts_and_refers_to_the_merged_model(tiny_causal_dir, prompts_file, tmp_path,
                                                                         capsys):
    first = tmp_path / "sft"
    assert _ppo(capsys, "-m", str(tiny_causal_dir), "-p", str(prompts_file), "--reward", "keywords:cat", "--out",
                str(first), *FAST)[0] == 0
    out = tmp_path / "ppo"
    args = ["-p", str(prompts_file), "--reward", "keywords:cat", "--out", str(out), "--from-adapter",
            str(first / "adapter"), *FAST]
    code, output = _ppo(capsys, *args)
    assert code == 0, output
    assert (out / "start-model" / "config.json").is_file()
    assert json.loads((out / "config.json").read_text())["model"].endswith("start-model")
    manifest = json.loads((out / "adapter" / "manifest.json").read_text())
    assert manifest["base_model"]["name"].endswith("start-model")
    assert f"-m {out / 'start-model'}" in output.replace("\n", "")
    code, output = _ppo(capsys, *args)  # a finished run is not replaced silently
    assert code == 2 and "already holds a run" in output and "--resume" in output


@pytest.mark.parametrize("extra, message", [
    (["--set", "vf_coef"], "is not KEY=VALUE"),
    (["--set", "nope=1"], "unknown field(s) nope"),
    (["--target-kl", "lots"], "'lots' is not a number"),
    (["--mini-batch-size", "3"], "must divide batch_size"),
])
def test_align_ppo_bad_settings_are_named(tiny_causal_dir, prompts_file, tmp_path, capsys, extra, message):
    code, output = _ppo(capsys, "-m", str(tiny_causal_dir), "-p", str(prompts_file), "--reward", "toxicity", "--out",
                        str(tmp_path / "x"), *extra)
    assert code == 2 and message in output, output
    assert not (tmp_path / "x").exists()


def test_align_ppo_full_method_takes_no_lora_options(tiny_causal_dir, prompts_file, tmp_path, capsys):
    out = tmp_path / "full"
    code, output = _ppo(capsys, "-m", str(tiny_causal_dir), "-p", str(prompts_file), "--reward", "keywords:cat",
                        "--out", str(out), "--method", "full", *FAST)
    assert code == 0, output
    cfg = json.loads((out / "config.json").read_text())["ppo_config"]
    assert (cfg["method"], cfg["options"]) == ("full", {})
