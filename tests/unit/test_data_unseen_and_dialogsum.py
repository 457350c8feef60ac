"""Built-in tasks have a ``test-unseen`` split; the DialogSum recipe loads through the hub loader (offline fixture)."""

from pathlib import Path

import pytest

from genlab.errors import ConfigError
from genlab.evaluation.metrics.base import Reference
from genlab.tasks import load_task, task_from_yaml

GENERATION_TASKS = ["chat-summary", "reviews-generate", "reviews-headline", "support-extract", "support-summary"]
FIXTURE = Path(__file__).parent.parent / "fixtures" / "dialogsum"


@pytest.mark.parametrize("name", GENERATION_TASKS + ["reviews"])
def test_every_builtin_task_has_a_disjoint_test_unseen_split(name):
    task = load_task(name)
    assert task.split_names() == ["train", "validation", "test", "test-unseen"]
    sizes = {s: len(task.examples(s)) for s in task.split_names()}
    assert sizes["train"] >= 192 and sizes["test"] >= 100 and sizes["test-unseen"] >= 100, sizes
    key = "scenario" if name.startswith(("support", "chat")) else "category"
    seen = {r[key] for s in ("train", "validation", "test") for r in task.examples(s)}
    unseen = {r[key] for r in task.examples("test-unseen")}
    assert unseen and seen.isdisjoint(unseen)
    assert task.requests("test-unseen", n=3)[0].prompt


def test_support_targets_carry_their_dialogue_facts():
    req = load_task("support-summary").requests("test-unseen", n=2)[0]
    assert isinstance(req.target, Reference) and req.target.facts == req.raw["facts"]
    assert req.target.facts["customer_name"] in req.target


def test_unseen_only_for_builtin_sources(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"a": "x", "b": "y"}\n')
    spec = "name: t\ndataset: {path: d.jsonl, unseen: 10}\ntemplates:\n  - name: t\n    jinja: '{{a}} ||| {{b}}'\n"
    with pytest.raises(ConfigError, match="dataset.unseen only applies to built-in generators"):
        task_from_yaml(spec, source=str(tmp_path / "t.yaml"), base=tmp_path).examples("train")
    bad = "name: t\ndataset: {builtin: chat, n: 20, unseen: many}\ntemplates:\n  - name: t\n    jinja: '{{dialogue}} ||| {{summary}}'\n"
    with pytest.raises(ConfigError, match="dataset.unseen must be a whole number"):
        task_from_yaml(bad).examples("train")


def test_dialogsum_recipe_loads_through_the_hub_loader(monkeypatch):
    """The shipped YAML asks ``datasets.load_dataset`` for knkarthick/dialogsum; here it gets a local copy of that shape."""
    import datasets

    real = datasets.load_dataset
    asked = []

    def local_copy(name, config=None, **kwargs):
        asked.append((name, config))
        files = {s: str(FIXTURE / f"{s}.csv") for s in ("train", "validation", "test")}
        return real("csv", data_files=files)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", local_copy)
    task = load_task("dialogsum")
    assert "CC BY-NC-SA 4.0" in task.description
    assert task.split_names() == ["train", "validation", "test"] and asked == [("knkarthick/dialogsum", None)]
    assert [len(task.examples(s)) for s in task.split_names()] == [4, 2, 2]
    req = task.requests("test", n=1)[0]
    assert "#Person1#: I need to move my dentist appointment." in req.prompt
    assert req.target == "#Person1# moves the dentist appointment to Thursday at ten."
    assert task.requests("test", n=1, shots=2)[0].shots_used == 2


def test_dialogsum_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Exception, match="offline"):
        load_task("dialogsum").examples("test")


def test_listing_tasks_offline_does_not_download_dialogsum(monkeypatch):
    from typer.testing import CliRunner

    from genlab.cli import app

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = CliRunner().invoke(app, ["data", "tasks"])
    assert result.exit_code == 0, result.output
    assert "dialogsum" in result.output and "test-unseen 250" in result.output
