"""The lifecycle report in a real headless browser (Debian's chromium, driven by Playwright).

Skipped, saying why, where chromium cannot be installed (`make test` installs it with apt).
"""

import shutil

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from genlab.lifecycle import recipe_from_yaml, run_recipe
    from genlab.report.lifecycle import build_report
    from genlab.testing import tiny_model_dir

    root = tmp_path_factory.mktemp("browser")
    model = tiny_model_dir(root / "lm", "causal", max_position_embeddings=4096)
    text = f"""
model: {model}
task: support-summary
eval: {{n: 4, batch_size: 4}}
n_train: 8
train: {{max_steps: 3, batch_size: 2, lr: 1.0e-3, val_max_examples: 2, val_generate: 0, eval_every: 1}}
stages: [zero-shot, {{kind: few-shot, shots: [1]}}, {{name: lora, kind: tune, method: lora, options: {{r: 4}}}}]
"""
    run_recipe(recipe_from_yaml(text, "tiny.yaml"), root / "run")
    return build_report(root / "run")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it with apt-get where it can)")
def test_report_renders_in_chromium(tiny_run, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(tiny_run.resolve().as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        rows = page.evaluate("document.querySelectorAll('table.leaderboard tbody tr').length")
        stages = page.evaluate("Array.from(document.querySelectorAll('table.leaderboard tbody tr td:first-child'))"
                               ".map(td => td.textContent)")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert len(images) >= 3 and all(ok and w > 0 and h > 0 for ok, w, h in images)
    assert rows == 3 and stages == ["zero-shot", "1-shot", "lora"]
    assert (tmp_path / "report.png").stat().st_size > 10_000
