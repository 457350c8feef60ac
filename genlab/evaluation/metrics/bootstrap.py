"""Bootstrap confidence intervals and the paired bootstrap test, vectorized with numpy.

A resample of ``n`` samples is a vector of counts (how often each sample was
drawn, a multinomial draw); the resampled corpus statistic is ``counts @ stats``.
So ``B`` resamples are one ``(B, n) @ (n, k)`` matrix product, then one
vectorized ``from_stats``. Seeded: the same ``seed`` gives the same interval.

References: Efron & Tibshirani (1993), percentile intervals; Koehn (2004)
"Statistical Significance Tests for Machine Translation Evaluation"; Berg-Kirkpatrick
et al. (2012) "An Empirical Investigation of Statistical Significance in NLP" for
the shifted-null paired test.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

StatsFn = Callable[[np.ndarray], np.ndarray]
CHUNK = 250  # resamples per matrix product; bounds memory at CHUNK * n floats


def resample_counts(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """``(B, n)`` multinomial counts; row ``b`` says how often each sample was drawn."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(np.float64)


def bootstrap_distribution(stats: np.ndarray, from_stats: StatsFn, *, n_resamples: int = 1000,
                           seed: int = 0) -> np.ndarray:
    """Scores of ``n_resamples`` bootstrap corpora. ``stats``: ``(n, k)`` per-sample stats."""
    stats = np.asarray(stats, dtype=np.float64)
    n = stats.shape[0]
    counts = resample_counts(n, n_resamples, seed)
    out = [from_stats(counts[i:i + CHUNK] @ stats) for i in range(0, n_resamples, CHUNK)]
    return np.concatenate(out)


def bootstrap_ci(stats: np.ndarray, from_stats: StatsFn, *, n_resamples: int = 1000, seed: int = 0,
                 confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the corpus score ``from_stats(stats.sum(0))``."""
    if len(stats) < 2:
        value = float(from_stats(np.asarray(stats, dtype=np.float64).sum(axis=0)))
        return value, value
    dist = bootstrap_distribution(stats, from_stats, n_resamples=n_resamples, seed=seed)
    alpha = (1.0 - confidence) / 2
    low, high = np.nanquantile(dist, [alpha, 1.0 - alpha])
    return float(low), float(high)


def paired_bootstrap(stats_a: np.ndarray, stats_b: np.ndarray, from_stats: StatsFn, *,
                     n_resamples: int = 1000, seed: int = 0) -> dict[str, float]:
    """Paired bootstrap test of ``score(B) - score(A)`` on the same samples.

    Both systems are resampled with the *same* counts. The two-sided p-value uses
    the shifted null of Berg-Kirkpatrick et al. (2012): the fraction of resampled
    deltas ``d*`` with ``|d* - d| >= |d|``, with the usual +1 correction.
    Returns ``delta``, ``p_value``, ``ci_low`` and ``ci_high`` (95% interval of the delta).
    """
    a = np.asarray(stats_a, dtype=np.float64)
    b = np.asarray(stats_b, dtype=np.float64)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"paired bootstrap needs the same samples: {a.shape[0]} vs {b.shape[0]}")
    delta = float(from_stats(b.sum(0)) - from_stats(a.sum(0)))
    counts = resample_counts(a.shape[0], n_resamples, seed)
    deltas = np.concatenate([from_stats(counts[i:i + CHUNK] @ b) - from_stats(counts[i:i + CHUNK] @ a)
                             for i in range(0, n_resamples, CHUNK)])
    extreme = np.sum(np.abs(deltas - delta) >= abs(delta) - 1e-12)
    low, high = np.nanquantile(deltas, [0.025, 0.975])
    return {"delta": delta, "p_value": float((extreme + 1) / (n_resamples + 1)),
            "ci_low": float(low), "ci_high": float(high)}


def mean_with_ci(values, *, n_resamples: int = 1000, seed: int = 0) -> dict[str, float]:
    """``{"value", "ci_low", "ci_high"}``: the mean of per-example scores with its 95% bootstrap interval."""
    stats = np.column_stack([np.asarray(values, dtype=float), np.ones(len(values))])
    low, high = bootstrap_ci(stats, _ratio, n_resamples=n_resamples, seed=seed)
    return {"value": float(_ratio(stats.sum(0))), "ci_low": low, "ci_high": high}


def interval_text(m: dict, digits: int = 3) -> str:
    """``value [low, high]`` of a ``{"value", "ci_low", "ci_high"}`` metric."""
    return f"{m['value']:.{digits}f} [{m['ci_low']:.{digits}f}, {m['ci_high']:.{digits}f}]"


def _ratio(s: np.ndarray) -> np.ndarray:
    return s[..., 0] / np.maximum(s[..., 1], 1)
