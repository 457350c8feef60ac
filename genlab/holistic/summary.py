"""``HolisticSummary``: what ``run_suite`` returns and ``results.json`` holds (read back by reports and the CLI).

``from_json`` reads files written by older versions: missing fields get defaults and
unknown ones are kept in ``extra``, so an old benchmark folder still renders.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class HolisticSummary:
    models: list[str] = field(default_factory=list)  # labels: name, or name+adapter-run
    pairs: list[dict[str, Any]] = field(default_factory=list)  # [{"model", "adapter"}] per label
    scenarios: list[str] = field(default_factory=list)
    suite: str = "holistic"
    n: int = 0  # instances per scenario
    seed: int = 0
    eval: dict[str, Any] = field(default_factory=dict)  # the EvalConfig used
    perturbations: list[str] = field(default_factory=list)
    toxicity_scorer: str = ""
    results: dict[str, dict[str, dict]] = field(default_factory=dict)  # scenario -> model -> family -> numbers
    headline: dict[str, dict[str, dict]] = field(default_factory=dict)  # scenario -> model -> family -> number
    win_rates: dict[str, dict[str, float | None]] = field(default_factory=dict)  # model -> family -> rate
    seconds: float = 0.0
    environment: dict[str, Any] = field(default_factory=dict)  # genlab.provenance.Provenance
    out_dir: str | None = None  # where it was saved (not stored in the file)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("out_dir")
        return {**data.pop("extra"), **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "HolisticSummary":
        names = {f.name for f in dataclasses.fields(cls)} - {"extra", "out_dir"}
        return cls(**{k: v for k, v in data.items() if k in names},
                   extra={k: v for k, v in data.items() if k not in names})

    @classmethod
    def load(cls, out_dir: str | Path) -> "HolisticSummary":
        from genlab.io import read_json

        summary = cls.from_json(read_json(Path(out_dir) / "results.json"))
        summary.out_dir = str(out_dir)
        return summary
