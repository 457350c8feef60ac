"""Fit L(N, D) = E + A/N^α + B/D^β to our runs, Chinchilla's approach 3 (Hoffmann et al. 2022, §3.3).

With θ = (a, b, e, α, β), A = eᵃ, B = eᵇ, E = eᵉ:

    log L̂(N, D) = LSE(a − α·log N,  b − β·log D,  e)
    min_θ  Σ_i Huber_δ( log L̂(N_i, D_i) − log L_i ),   δ = 10⁻³

by L-BFGS from a grid of starting points (the best optimum kept), with
bootstrap intervals from refits on resampled runs. The compute-optimal split
of a budget C ≈ 6·N·D follows in closed form:

    N_opt(C) = G·(C/6)^(β/(α+β)),  D_opt(C) = G⁻¹·(C/6)^(α/(α+β)),  G = (αA / βB)^(1/(α+β))

Anchors: Chinchilla's own fit E=1.69, A=406.4, B=410.7, α=0.34, β=0.28;
the replication by Besiroglu et al. (2024) refit their data: E=1.82, A=482.0,
B=2085.4, α=0.35, β=0.37 (and, like Chinchilla, counts *all* parameters;
Kaplan et al. counted non-embedding ones, which at small scale shifts α).
Our runs are ~10⁵–10⁶ parameters on ~10⁶ tokens: the form transfers, the
constants do not.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from genlab.errors import ConfigError

N_PARAMS = 5
HUBER_DELTA = 1e-3
# E may not fall below this share of the smallest observed loss: without a floor, runs that sit far above the
# irreducible loss send E -> 0 (e -> -inf) and L-BFGS spends its iterations there; at the floor E is reported
# as not identified, and the law is effectively Kaplan's A/N^α + B/D^β
E_FLOOR_SHARE = 1e-3
CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
REPLICATION = {"E": 1.82, "A": 482.0, "B": 2085.4, "alpha": 0.35, "beta": 0.37}
# Chinchilla's grid of initialisations: α, β ∈ {0, .5, …, 2}, e ∈ {−1, −.5, …, 1}, a, b ∈ {0, 5, …, 25};
# e reaches 2 here because a tiny model's irreducible-looking loss sits higher (E ≈ e² ≈ 7 at most)
GRID = {"alpha": np.arange(0, 2.01, 0.5), "beta": np.arange(0, 2.01, 0.5), "e": np.arange(-1, 2.01, 0.5),
        "a": np.arange(0, 25.1, 5), "b": np.arange(0, 25.1, 5)}


@dataclass
class Law:
    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def loss(self, N, D):
        N, D = np.asarray(N, float), np.asarray(D, float)
        return self.E + self.A / N**self.alpha + self.B / D**self.beta

    def optimal(self, C: float) -> tuple[float, float]:
        """Compute-optimal (N, D) for a budget of ``C`` FLOPs under C = 6·N·D."""
        a, b = self.alpha, self.beta
        G = (a * self.A / (b * self.B)) ** (1 / (a + b))
        return G * (C / 6) ** (b / (a + b)), (C / 6) ** (a / (a + b)) / G

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ScalingFit:
    law: Law | None  # None when the fit did not converge
    converged: bool
    reason: str  # why not converged (or "ok")
    points: list[dict]  # N, D, loss, predicted, residual (log)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # 95% bootstrap
    n_bootstrap: int = 0
    objective: float = float("nan")
    starts: int = 0
    n_count: str = "total"  # which parameters N counts
    E_identified: bool = True  # False: the fit put E at its floor (these runs do not reach the irreducible loss)

    def to_dict(self) -> dict:
        return {"law": self.law.to_dict() if self.law else None, "converged": self.converged, "reason": self.reason,
                "points": self.points, "intervals": {k: list(v) for k, v in self.intervals.items()},
                "n_bootstrap": self.n_bootstrap, "objective": self.objective, "starts": self.starts,
                "n_count": self.n_count, "E_identified": self.E_identified}


# -- the objective ------------------------------------------------------------------------------

def _huber_and_grad(theta: np.ndarray, logN: np.ndarray, logD: np.ndarray, logL: np.ndarray,
                    delta: float = HUBER_DELTA) -> tuple[float, np.ndarray]:
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * logN, b - beta * logD, np.full_like(logN, e)])  # (3, n)
    top = terms.max(0)
    w = np.exp(terms - top)
    s = w.sum(0)
    pred = top + np.log(s)  # log L̂
    w /= s  # softmax weights: ∂pred/∂(a, b, e)
    r = pred - logL
    small = np.abs(r) <= delta
    value = np.where(small, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta)).sum()
    dr = np.where(small, r, delta * np.sign(r))  # ∂Huber/∂r
    grad = np.array([(dr * w[0]).sum(), (dr * w[1]).sum(), (dr * w[2]).sum(),
                     -(dr * w[0] * logN).sum(), -(dr * w[1] * logD).sum()])
    return float(value), grad


def _grid_values(logN, logD, logL) -> tuple[np.ndarray, np.ndarray]:
    """Every grid start and its objective, vectorised (a few thousand points in milliseconds)."""
    starts = np.array(list(itertools.product(GRID["a"], GRID["b"], GRID["e"], GRID["alpha"], GRID["beta"])))
    a, b, e, al, be = (starts[:, i:i + 1] for i in range(5))
    terms = np.stack([a - al * logN, b - be * logD, np.broadcast_to(e, (len(starts), len(logN)))])
    pred = np.logaddexp(np.logaddexp(terms[0], terms[1]), terms[2])
    r = np.abs(pred - logL)
    vals = np.where(r <= HUBER_DELTA, 0.5 * r**2, HUBER_DELTA * (r - 0.5 * HUBER_DELTA)).sum(1)
    return starts, vals


def _e_floor(logL) -> float:
    return float(np.min(logL)) + math.log(E_FLOOR_SHARE)


def _minimize(theta0, logN, logD, logL, e_floor: float):
    from scipy.optimize import minimize

    theta0 = np.array(theta0, float)
    theta0[2] = max(theta0[2], e_floor)
    bounds = [(None, None), (None, None), (e_floor, None), (None, None), (None, None)]
    return minimize(_huber_and_grad, theta0, args=(logN, logD, logL), jac=True, method="L-BFGS-B", bounds=bounds,
                    options={"maxiter": 2000, "gtol": 1e-10, "ftol": 1e-14})


def _best_fit(logN, logD, logL, starts: np.ndarray):
    best = None
    for t0 in starts:
        res = _minimize(t0, logN, logD, logL, _e_floor(logL))
        if np.all(np.isfinite(res.x)) and (best is None or res.fun < best.fun):
            best = res
    return best


# -- the fit ---------------------------------------------------------------------------------------

def check_grid(N: Sequence[float], D: Sequence[float]) -> None:
    """Refuse what cannot be fitted: fewer runs than parameters, or no spread in N or D."""
    if len(N) < N_PARAMS:
        raise ConfigError(f"{len(N)} run(s) cannot fit L(N, D) = E + A/N^α + B/D^β, which has {N_PARAMS} "
                          f"parameters: at least {N_PARAMS} finished runs are needed (12 or more recommended, "
                          "e.g. 4 sizes × 3 token budgets)", where="scaling fit",
                          hint="train more: genlab scaling run --sizes 32x1,48x2,64x3,96x4 --tokens 250k,500k,1M "
                               "(or, for a table of runs measured elsewhere, add rows)")
    if len(set(N)) < 2 or len(set(D)) < 2:
        raise ConfigError(f"the runs span {len(set(N))} model size(s) and {len(set(D))} token budget(s): "
                          "both exponents need at least 2 of each (3+ recommended)", where="scaling fit")


def fit_law(N: Sequence[float], D: Sequence[float], L: Sequence[float], *, n_bootstrap: int = 200, seed: int = 0,
            top_starts: int | None = 64, n_count: str = "total") -> ScalingFit:
    """Fit the law to runs (N params, D tokens, L final held-out loss). ``top_starts``: L-BFGS runs from the
    best this-many grid points (None: from all of them, as Chinchilla does; slower, same optimum in our tests)."""
    N, D, L = (np.asarray(x, float) for x in (N, D, L))
    check_grid(list(N), list(D))
    if np.any(L <= 0) or np.any(N <= 0) or np.any(D <= 0):
        raise ConfigError("losses, parameter counts and token counts must be positive", where="scaling fit")
    logN, logD, logL = np.log(N), np.log(D), np.log(L)
    starts, vals = _grid_values(logN, logD, logL)
    chosen = starts if top_starts is None else starts[np.argsort(vals)[:top_starts]]
    best = _best_fit(logN, logD, logL, chosen)
    law = _law(best.x)
    points = _points(N, D, L, law)
    ok, reason = _converged(best, law, L, points)
    at_floor = best.x[2] <= _e_floor(logL) + 1e-6
    fit = ScalingFit(law if ok else None, ok, reason, points, objective=float(best.fun), starts=len(chosen),
                     n_count=n_count, E_identified=not at_floor)
    if ok and at_floor:
        fit.reason = ("E is not identified: the best fit puts it at its floor (these runs sit far above the "
                      "irreducible loss), so the law is effectively A/N^α + B/D^β and E has no interval")
    if ok and n_bootstrap:
        fit.intervals, fit.n_bootstrap = _bootstrap(logN, logD, logL, best.x, n_bootstrap, seed)
        if at_floor:
            fit.intervals.pop("E", None)
    return fit


def _law(theta) -> Law:
    a, b, e, alpha, beta = (float(x) for x in theta)
    return Law(math.exp(e), math.exp(a), math.exp(b), alpha, beta)


def _points(N, D, L, law: Law) -> list[dict]:
    pred = law.loss(N, D)
    return [{"N": float(n), "D": float(d), "loss": float(obs), "predicted": float(p),
             "residual_log": float(np.log(p) - np.log(obs))} for n, d, obs, p in zip(N, D, L, pred)]


def _converged(res, law: Law, L, points) -> tuple[bool, str]:
    """Say so when the optimum is not a law we can stand behind (never print a confident number then)."""
    if not res.success:
        return False, f"L-BFGS stopped without converging: {res.message}"
    if not (0.0 < law.alpha < 3.0 and 0.0 < law.beta < 3.0):
        return False, f"an exponent left the plausible range (α={law.alpha:.3g}, β={law.beta:.3g}): one term is " \
                      "not identified by these runs"
    if not 0.0 < law.E < float(np.min(L)):
        return False, f"E={law.E:.3g} is not below every observed loss (min {np.min(L):.3g})"
    worst = max(abs(p["residual_log"]) for p in points)
    if worst > 0.1:
        return False, f"the best fit misses a run by {100 * (math.exp(worst) - 1):.0f}% (log residual {worst:.3f})"
    return True, "ok"


def _bootstrap(logN, logD, logL, theta, n: int, seed: int) -> tuple[dict[str, tuple[float, float]], int]:
    """95% percentile intervals from refits on runs resampled with replacement (from the full fit's optimum)."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        idx = rng.integers(0, len(logL), len(logL))
        if len(set(idx)) < N_PARAMS or len(set(logN[idx])) < 2 or len(set(logD[idx])) < 2:
            continue
        res = _minimize(theta, logN[idx], logD[idx], logL[idx], _e_floor(logL[idx]))
        if res.success and np.all(np.isfinite(res.x)):
            law = _law(res.x)
            draws.append([law.E, law.A, law.B, law.alpha, law.beta])
    if not draws:
        return {}, 0
    arr = np.array(draws)
    names = ["E", "A", "B", "alpha", "beta"]
    return {k: (float(np.percentile(arr[:, i], 2.5)), float(np.percentile(arr[:, i], 97.5)))
            for i, k in enumerate(names)}, len(draws)


def holdout_check(N, D, L, index: int, **kw) -> dict:
    """Fit without run ``index`` and predict it: the honest test of a law."""
    keep = [i for i in range(len(L)) if i != index]
    fit = fit_law([N[i] for i in keep], [D[i] for i in keep], [L[i] for i in keep], **kw)
    out = {"N": float(N[index]), "D": float(D[index]), "observed": float(L[index]), "converged": fit.converged,
           "reason": fit.reason}
    if fit.converged:
        pred = float(fit.law.loss(N[index], D[index]))
        out.update(predicted=pred, error=(pred - L[index]) / L[index], law=fit.law.to_dict())
    return out
