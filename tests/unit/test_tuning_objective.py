"""A custom objective goes through the same loop: its own examples, batches, loss, logged scalars, validation."""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F

from genlab.testing import tiny_model
from genlab.tuning import TrainConfig, methods, train
from genlab.tuning.objective import BaseObjective


class LastTokenObjective(BaseObjective):
    """Toy objective on plain tuples ``(ids, target_id)``: the last position must predict ``target_id``."""

    def length(self, example) -> int:
        return len(example[0])

    def collate(self, examples, pad_id):
        T = max(len(ids) for ids, _ in examples)
        ids = torch.full((len(examples), T), pad_id)
        mask = torch.zeros((len(examples), T), dtype=torch.long)
        for i, (x, _) in enumerate(examples):
            ids[i, T - len(x):], mask[i, T - len(x):] = torch.tensor(x), 1  # left-padded: last position is real
        return {"input_ids": ids, "attention_mask": mask, "target": torch.tensor([t for _, t in examples])}

    def loss(self, model, batch):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, -1].float()
        self._acc = float((logits.argmax(-1) == batch["target"]).float().mean())
        return F.cross_entropy(logits, batch["target"]), len(batch["target"])

    def logs(self):
        return {"last_token_acc": self._acc}


def test_custom_objective_trains_logs_and_validates(tmp_path):
    model, tok = tiny_model("causal", seed=0, initializer_range=0.3)
    model = methods.apply("lora", model, {"r": 4})
    data = [([5 + i % 7, 9, 11 + i % 3], 42) for i in range(16)]
    obj = LastTokenObjective()
    with torch.no_grad():
        before = obj.loss(model, obj.collate(data, 0))[0].item()
    res = train(model, tok, "causal", data, data[:4], TrainConfig(lr=5e-2, epochs=4, batch_size=4, precision="fp32"),
                tmp_path, objective=obj)
    with torch.no_grad():
        after = obj.loss(model, obj.collate(data, 0))[0].item()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert after < 0.5 * before
    assert all(0.0 <= r["last_token_acc"] <= 1.0 for r in rows if "loss" in r)
    assert any("val_loss" in r for r in rows) and res.steps == 16
