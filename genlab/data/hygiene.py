"""Data hygiene: duplicate removal and train/test contamination.

Contamination follows the GPT-3 / FLAN practice of n-gram overlap: a test
example is flagged when its text occurs in train, or when the share of its
13-grams (whitespace words after normalisation) that also occur in train
exceeds a threshold (Brown et al. 2020, appendix C).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Sequence

_PUNCT = re.compile(r"[^\w\s]")
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Case-, accent-width-, punctuation- and whitespace-insensitive form used to find near duplicates."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def row_text(row: dict, fields: Sequence[str] | None = None) -> str:
    keys = fields if fields is not None else sorted(k for k, v in row.items() if isinstance(v, str))
    return "\n".join(str(row.get(k, "")) for k in keys)


@dataclass
class DuplicateReport:
    exact: int = 0
    normalized: int = 0  # near duplicates beyond the exact ones
    dropped: list[int] = field(default_factory=list)  # indices into the input

    @property
    def total(self) -> int:
        return self.exact + self.normalized


def dedupe(rows: Sequence[dict], fields: Sequence[str] | None = None, *,
           normalized: bool = True) -> tuple[list[dict], DuplicateReport]:
    """Keep the first of each group of duplicates (exact, then normalized text)."""
    seen_exact, seen_norm = set(), set()
    kept, report = [], DuplicateReport()
    for i, row in enumerate(rows):
        text = row_text(row, fields)
        norm = normalize(text)
        if text in seen_exact:
            report.exact += 1
            report.dropped.append(i)
        elif normalized and norm in seen_norm:
            report.normalized += 1
            report.dropped.append(i)
        else:
            kept.append(row)
        seen_exact.add(text)
        seen_norm.add(norm)
    return kept, report


def ngrams(text: str, n: int = 13) -> set[bytes]:
    words = normalize(text).split()
    return {hashlib.blake2b(" ".join(words[i:i + n]).encode(), digest_size=8).digest()
            for i in range(len(words) - n + 1)}


@dataclass
class Contaminated:
    index: int  # into the test rows
    reason: str  # "exact" | "13-gram"
    overlap: float  # share of the example's n-grams found in train


@dataclass
class ContaminationReport:
    n_test: int
    n: int
    threshold: float
    hits: list[Contaminated] = field(default_factory=list)
    overlaps: list[float] = field(default_factory=list)  # every test example's n-gram overlap share

    @property
    def mean_overlap(self) -> float:
        return sum(self.overlaps) / len(self.overlaps) if self.overlaps else 0.0

    @property
    def exact(self) -> int:
        return sum(h.reason == "exact" for h in self.hits)

    @property
    def rate(self) -> float:
        return len(self.hits) / self.n_test if self.n_test else 0.0


def contamination(train: Iterable[dict], test: Sequence[dict], fields: Sequence[str] | None = None, *,
                  n: int = 13, threshold: float = 0.8) -> ContaminationReport:
    """Test examples whose text (normalized) is in train, or whose n-gram overlap with train exceeds ``threshold``."""
    train_texts, train_grams = set(), set()
    for row in train:
        text = normalize(row_text(row, fields))
        train_texts.add(text)
        train_grams |= ngrams(text, n)
    report = ContaminationReport(len(test), n, threshold)
    for i, row in enumerate(test):
        text = normalize(row_text(row, fields))
        grams = ngrams(text, n)
        share = len(grams & train_grams) / len(grams) if grams else 0.0
        report.overlaps.append(1.0 if text in train_texts else share)
        if text in train_texts:
            report.hits.append(Contaminated(i, "exact", 1.0))
        elif share > threshold:
            report.hits.append(Contaminated(i, f"{n}-gram", share))
    return report
