"""Text for calibration (Wanda, distillation) and held-out perplexity: a task's prompt + reference, joined.

Calibration reads ``train``; perplexity reads ``test-unseen`` (never trained on), so
an optimization tuned on the task cannot look better on the text it saw.
"""

from __future__ import annotations

DEFAULT_TASK = "support-summary"
CALIBRATION_SPLIT = "train"
HELDOUT_SPLIT = "test-unseen"


def task_texts(task: str = DEFAULT_TASK, split: str = CALIBRATION_SPLIT, n: int = 32, seed: int = 0) -> list[str]:
    from genlab.tasks import load_task

    reqs = load_task(task).requests(split, n=n, seed=seed)
    return [f"{r.prompt} {r.target}".strip() for r in reqs]
