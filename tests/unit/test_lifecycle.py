"""Recipe schema, stage caching, resume after interruption, and the report on a tiny run."""

import json
import re

import pytest

from genlab.errors import ConfigError
from genlab.lifecycle import load_recipe, recipe_from_yaml, run_recipe
from genlab.testing import tiny_recipe


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from genlab.testing import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("lm"), "causal", max_position_embeddings=4096)


def recipe_text(model, lr="1e-3", extra_stage=""):
    stages = ("  - zero-shot\n  - {kind: few-shot, shots: [1]}\n"
              "  - {name: lora, kind: tune, method: lora, options: {r: 4}}\n")
    return tiny_recipe(model, stages + extra_stage + "\n", lr=lr)


BAD = [
    ("model: m\nstages: [zero-shot]\n", "task: or mixture:"),
    ("task: t\nstages: [zero-shot]\n", "missing required key 'model'"),
    ("model: m\ntask: t\nstages: []\n", "list at least one stage"),
    ("model: m\ntask: t\nstages: [{kind: tune, method: nope}]\n", "unknown method 'nope'"),
    ("model: m\ntask: t\nstages: [{kind: dance}]\n", "kind must be one of"),
    ("model: m\ntask: t\nstages: [{kind: few-shot, shots: [-1]}]\n", "shots must be whole numbers"),
    ("model: m\ntask: t\nstages: [zero-shot, {kind: prompt, shots: 0}]\n", "duplicate stage name"),
    ("model: m\ntask: t\nstagse: [zero-shot]\n", "unknown key(s): stagse"),
    ("model: m\ntask: t\nstages: [{kind: tune, method: lora, options: {rank: 8}}]\n", "rank"),
    ("model: m\ntask: t\nstages: [{kind: tune, method: lora, train: {lr: -1}}]\n", "lr"),
    ("model: m\ntask: [\n", "not valid YAML"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_recipe_errors_are_clear(text, message):
    with pytest.raises(ConfigError) as e:
        recipe_from_yaml(text, source="r.yaml")
    assert message in e.value.render() and "r.yaml" in e.value.render()


def test_stage_error_names_the_stage_index():
    with pytest.raises(ConfigError) as e:
        recipe_from_yaml("model: m\ntask: t\nstages: [zero-shot, {kind: tune, method: nope}]\n", source="r.yaml")
    assert e.value.where == "r.yaml: stages[1].method"


def test_shorthands_expand():
    r = recipe_from_yaml("model: m\ntask: t\ntrain: {lr: 0.01}\nstages: [zero-shot, {kind: few-shot, shots: [1, 3]},"
                         " {kind: tune, method: lora, train: {epochs: 2}}]\n")
    assert [(s.name, s.kind, s.shots) for s in r.stages] == [("zero-shot", "prompt", 0), ("1-shot", "prompt", 1),
                                                              ("3-shot", "prompt", 3), ("lora", "tune", 0)]
    assert r.stages[-1].train == {"lr": 0.01, "epochs": 2}


def test_builtin_quickstart_recipes_load():
    for name in ("quickstart", "quickstart-fast"):
        r = load_recipe(name)
        kinds = [s.kind for s in r.stages]
        assert "prompt" in kinds and kinds.count("tune") >= 2


def _stage_runs(out):
    return {p.parent.name: json.loads(p.read_text())["finished"] for p in (out / "stages").glob("*/stage.json")}


def test_run_caches_stages_and_reruns_only_what_changed(tiny_dir, tmp_path):
    out = tmp_path / "run"
    first = run_recipe(recipe_from_yaml(recipe_text(tiny_dir), "r.yaml"), out)
    assert [o.status for o in first] == ["ran", "ran", "ran"]
    for stage in ("zero-shot", "1-shot", "lora"):
        res = json.loads((out / "stages" / stage / "eval" / "results.json").read_text())
        assert 0 <= res["metrics"]["rougeL"]["value"] <= 1
    assert (out / "stages" / "lora" / "adapter").is_dir()

    again = run_recipe(recipe_from_yaml(recipe_text(tiny_dir), "r.yaml"), out)
    assert [o.status for o in again] == ["reused", "reused", "reused"]

    changed = run_recipe(recipe_from_yaml(recipe_text(tiny_dir, lr="2e-3"), "r.yaml"), out)
    assert [o.status for o in changed] == ["reused", "reused", "ran"]  # only the tuned stage depends on lr

    forced = run_recipe(recipe_from_yaml(recipe_text(tiny_dir, lr="2e-3"), "r.yaml"), out, force=["zero-shot"],
                        only=["zero-shot"])
    assert [o.status for o in forced] == ["ran", "skipped", "skipped"]


def test_interrupted_stage_is_redone_and_finished_stages_kept(tiny_dir, tmp_path):
    out = tmp_path / "run"
    recipe = recipe_from_yaml(recipe_text(tiny_dir), "r.yaml")
    run_recipe(recipe, out)
    marker = out / "stages" / "1-shot" / "stage.json"
    info = json.loads(marker.read_text())
    marker.write_text(json.dumps({**info, "status": "running"}))  # as if killed mid-stage
    outcomes = run_recipe(recipe, out)
    assert [o.status for o in outcomes] == ["reused", "ran", "reused"]


def test_report_has_every_section(tiny_dir, tmp_path):
    from genlab.report.lifecycle import build_report, build_compare

    out = tmp_path / "run"
    run_recipe(recipe_from_yaml(recipe_text(tiny_dir), "r.yaml"), out)
    (out / "recipe.yaml").write_text(recipe_text(tiny_dir))
    html = build_report(out).read_text()
    for section in ('id="leaderboard"', 'id="charts"', 'id="examples"', 'id="reproduce"', "helped and hurt most"):
        assert section in html
    board = html.split('class="leaderboard"')[1].split("</table>")[0]
    assert len(re.findall(r'<tr(?: class="[^"]*")?><td>', board)) == 3  # one row per stage
    paired = html.split("example by example")[1].split("</table>")[0]
    assert len(re.findall(r"<tr><td>", paired)) == 2  # 1-shot and lora against zero-shot
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3  # metric by stage, score vs params, training curves
    assert "http://" not in html and "https://" not in html  # self-contained
    cmp = build_compare(out, out, tmp_path / "cmp.html").read_text()
    assert "+0.0000" in cmp


def test_run_cli_prints_leaderboard_and_report_path(tiny_dir, tmp_path, capsys):
    from genlab.cli import main

    recipe = tmp_path / "r.yaml"
    recipe.write_text(recipe_text(tiny_dir))
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "--only", "zero-shot"]) == 0
    text = capsys.readouterr().out
    assert "leaderboard" in text and "report:" in text and (out / "report.html").is_file()
    assert main(["run", str(recipe), "--out", str(out), "--only", "nope"]) == 2


SPLIT_ERRORS = [
    ("splits: test\n", "must be a list of split names"),
    ("splits: [test, test]\n", "listed twice"),
    ("splits: [test-unseen, test]\neval: {split: validation}\n", "eval.split is 'validation'"),
    ("splits: [test-unseen, test]\nmixture: {a: 1}\n", "a mixture is scored per task"),
]


@pytest.mark.parametrize("extra,message", SPLIT_ERRORS)
def test_splits_errors_are_clear(extra, message):
    text = "model: m\n" + ("" if "mixture" in extra else "task: t\n") + extra + "stages: [zero-shot]\n"
    with pytest.raises(ConfigError) as e:
        recipe_from_yaml(text, source="r.yaml")
    assert message in e.value.render() and "r.yaml: splits" in e.value.render()


def test_every_stage_is_scored_on_every_split_and_the_first_ranks(tiny_dir, tmp_path):
    from genlab.evaluation import EvalResult
    from genlab.report.lifecycle import collect, leaderboard, paired_vs_baseline

    text = recipe_text(tiny_dir).replace("eval: {", "splits: [test-unseen, test]\neval: {")
    recipe = recipe_from_yaml(text, "r.yaml")
    assert recipe.splits == ["test-unseen", "test"] and recipe.eval.split == "test-unseen"
    out = tmp_path / "run"
    run_recipe(recipe, out)
    for stage in ("zero-shot", "1-shot", "lora"):
        sdir = out / "stages" / stage
        main, other = EvalResult.load(sdir / "eval"), EvalResult.load(sdir / "eval-test")
        assert main.config["split"] == "test-unseen" and other.config["split"] == "test"
        record = json.loads((sdir / "stage.json").read_text())
        assert record["split"] == "test-unseen"
        assert record["other_splits"]["test"]["metrics"]["rougeL"] == other.metrics["rougeL"]
        assert record["metrics"]["rougeL"] == main.metrics["rougeL"]
        unseen_refs = {str(s["reference"]) for s in main.samples}
        assert unseen_refs.isdisjoint({str(s["reference"]) for s in other.samples})  # different examples
    run = collect(out)
    cols, rows = leaderboard(run)
    assert cols[2] == "rougeL on test-unseen [95% CI]" and cols[3] == "rougeL on test [95% CI]"
    lora = EvalResult.load(out / "stages" / "lora" / "eval-test").metrics["rougeL"]
    assert rows[2][3] == f"{lora['value']:.4f} [{lora['ci_low']:.4f}, {lora['ci_high']:.4f}]"
    pcols, prows = paired_vs_baseline(run)
    assert [r[0] for r in prows] == ["1-shot", "lora"] and len(pcols) == 4  # stage, 2 splits, gain kept
    assert all("p=" in cell for r in prows for cell in r[1:3])
