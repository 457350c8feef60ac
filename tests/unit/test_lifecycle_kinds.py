"""Stage kinds are pluggable: a registered kind parses its own keys, starts from an earlier stage (``from:``),
is scored through evaluate() like the others, re-runs when its source changes, and shows in the report."""

from __future__ import annotations

import pytest

from genlab.errors import ConfigError
from genlab.lifecycle import kinds, recipe_from_yaml, run_recipe
from genlab.lifecycle.recipe import Stage
from genlab.testing import tiny_recipe


def _parse(item, train_defaults, where):
    scale = item.get("options", {}).get("scale", 1.0)
    if not isinstance(scale, (int, float)):
        raise ConfigError("scale must be a number", where=f"{where}.options.scale")
    return [Stage(item.get("name") or "rescored", "rescore", options={"scale": scale})]


def _run(ctx, stage, sdir, resume, record):
    """Score the source stage's model again (a stand-in for quantize/align: a new model from an old one)."""
    from genlab.evaluation import evaluate

    lm = ctx.load_stage_model(stage.source)
    result = evaluate(lm, ctx.recipe.eval_task, ctx.recipe.eval, out_dir=sdir / "eval")
    record.metrics, record.eval_config, record.split = result.metrics, ctx.recipe.eval.to_dict(), ctx.recipe.eval.split
    record.adapter = "../" + stage.source + "/adapter"  # same model as the source: point at its adapter
    (sdir / "note.png").write_bytes(_png())
    record.extra.update(label=f"rescored from {stage.source}", figures=["note.png"],
                        examples=[{"title": "an example", "text": "rescored <ok>"}])


def _png() -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


@pytest.fixture(autouse=True)
def rescore_kind():
    kinds.register(kinds.StageKind("rescore", {"options", "from"}, _parse, _run))
    yield
    kinds.kinds().pop("rescore", None)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from genlab.testing import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("lm"), "causal", max_position_embeddings=4096)


def _recipe(model, lr="1e-3"):
    stages = ("  - zero-shot\n  - {name: lora, kind: tune, method: lora, options: {r: 4}}\n"
              "  - {name: again, kind: rescore, from: lora, options: {scale: 2}}\n")
    return recipe_from_yaml(tiny_recipe(model, stages, name="kinds", lr=lr), source="kinds.yaml")


def test_from_must_name_an_earlier_stage_and_keys_are_the_kinds_own():
    with pytest.raises(ConfigError, match="not an earlier stage") as e:
        recipe_from_yaml("model: m\ntask: t\nstages: [{kind: rescore, from: lora}, {kind: tune, method: lora}]\n",
                         source="r.yaml")
    assert "stages.rescored.from" in e.value.where
    with pytest.raises(ConfigError, match="unknown key"):
        recipe_from_yaml("model: m\ntask: t\nstages: [zero-shot, {kind: rescore, from: zero-shot, shots: 2}]\n")
    with pytest.raises(ConfigError, match="scale must be a number"):
        recipe_from_yaml("model: m\ntask: t\nstages: [zero-shot, {kind: rescore, options: {scale: x}}]\n")


def test_registered_kind_runs_from_a_stage_and_reruns_when_its_source_changes(tiny_dir, tmp_path):
    out = tmp_path / "run"
    first = {o.name: o for o in run_recipe(_recipe(tiny_dir), out)}
    assert first["again"].status == "ran"
    # same model as its source, same examples, same evaluation path: identical numbers
    assert first["again"].record.metrics == first["lora"].record.metrics
    html = (out / "report.html").read_text()
    assert "rescored from lora" in html and "rescored &lt;ok&gt;" in html and "Stage details" in html
    again = {o.name: o.status for o in run_recipe(_recipe(tiny_dir), out)}
    assert again == {"zero-shot": "reused", "lora": "reused", "again": "reused"}
    changed = {o.name: o.status for o in run_recipe(_recipe(tiny_dir, lr="2e-3"), out)}
    assert changed == {"zero-shot": "reused", "lora": "ran", "again": "ran"}
