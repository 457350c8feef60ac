"""Diversity of generated text: distinct-n (Li et al. 2016, https://arxiv.org/abs/1510.03055).

distinct-n = unique word n-grams / all word n-grams over a set of texts (lower-cased, split on
whitespace). A policy that collapses onto one phrase drives it towards 0.
"""

from __future__ import annotations

from typing import Sequence


def ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    words = text.lower().split()
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    grams = [g for t in texts for g in ngrams(t, n)]
    return len(set(grams)) / len(grams) if grams else 0.0
