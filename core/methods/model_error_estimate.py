"""Weak 4DVar's model-error variance q: estimated from the innovations, or tuned on validation problems.

Estimated (`estimate_model_error`): Talagrand's criterion (Talagrand 1999; Desroziers & Ivanov 2001).
With B, R and Q right, twice the cost at its minimum follows a chi-square law with as many degrees
of freedom as observed values m (weak 4DVar fits n (T + 1) numbers to n + m + nT residuals). 2 J_min
falls as q grows (a looser model fits the observations better), so a bracketed bisection on log q
finds the q at which the batch's median of 2 J_min / m meets the chi-square law's median ratio.
Why this one: it needs only each solve's final cost, which the solver returns anyway, no truth and no
extra derivatives; Desroziers' diagnostics need the analysis' innovation statistics per observation
and estimate R and B as well, which are known here. The median keeps a few wrong minima (whose cost
is far too high) from dragging the estimate.

Tuned (`tune_model_error`): the q of a grid with the lowest median window RMSE on validation
problems, which needs the truth: the twin experiment's best case, the reference for the estimate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np

from core._validate import check_range
from core.da.method import analyse_batch
from core.methods.weak4dvar import Q_MAX, Q_MIN
from core.methods.weak_variational import Weak4DVar
from core.setups.problems import Problem

ESTIMATE_BRACKET = (1e-3, 1e3)  # q per unit time; Lorenz-63 with rho off by 2 wants ~1 (weak_variational.py)
ESTIMATE_ITERATIONS = 14  # bisection halvings of log q: the bracket's factor 1e6 down to ~2.5% in q
TUNING_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


@dataclass
class QEstimate:
    """The estimated q, its batch's median 2 J_min / m there, and every (q, ratio) the search tried."""

    q: float
    ratio: float
    target: float
    tried: list[tuple[float, float]] = field(default_factory=list)


def chi_square_median_ratio(dof: float) -> float:
    """median(chi-square(dof)) / dof, by Wilson-Hilferty: (1 - 2 / (9 dof))^3 (0.983 at dof 39)."""
    return (1.0 - 2.0 / (9.0 * dof)) ** 3


def cost_ratio(problems: Problem, q: float, max_steps: int | None = None) -> float:
    """The batch's median of 2 J_min / m, weak 4DVar solved at `q` on every problem."""
    analysis = analyse_batch(Weak4DVar(q, max_steps), problems)
    observed = np.asarray(jnp.sum(problems.mask, axis=(-2, -1)))
    return float(np.median(2.0 * np.asarray(analysis.cost) / observed))


def estimate_model_error(
    problems: Problem,
    *,
    bracket: tuple[float, float] = ESTIMATE_BRACKET,
    iterations: int = ESTIMATE_ITERATIONS,
    max_steps: int | None = None,
) -> QEstimate:
    """q from the innovations alone (Talagrand's criterion): see the module's docstring.

    Arguments:
        problems: a batch of problems (one leading axis), their observations and the methods' model.
        bracket: the search's (low, high) q; an end is returned if the criterion lies beyond it.
        iterations: bisection steps on log q.
        max_steps: weak 4DVar's Gauss-Newton cap (None: its default).

    Raises:
        ValueError: a bracket outside weak 4DVar's q range or not increasing, or iterations out of range.
    """
    low, high = bracket
    check_range("bracket", [low, high], Q_MIN, Q_MAX)
    if not low < high:
        raise ValueError(f"bracket must be (low, high) with low < high; got {bracket!r}")
    check_range("iterations", iterations, 1, 60, integer=True)
    dof = float(np.median(np.asarray(jnp.sum(problems.mask, axis=(-2, -1)))))
    target = chi_square_median_ratio(dof)
    tried: list[tuple[float, float]] = []

    def excess(q: float) -> float:
        ratio = cost_ratio(problems, q, max_steps)
        tried.append((q, ratio))
        return ratio - target

    if excess(low) <= 0:  # even the tightest model fits: the model needs (almost) no error
        return QEstimate(low, tried[-1][1], target, tried)
    if excess(high) >= 0:
        return QEstimate(high, tried[-1][1], target, tried)
    log_low, log_high = math.log(low), math.log(high)
    for _ in range(iterations):
        middle = 0.5 * (log_low + log_high)
        if excess(math.exp(middle)) > 0:
            log_low = middle
        else:
            log_high = middle
    q = math.exp(0.5 * (log_low + log_high))
    return QEstimate(q, cost_ratio(problems, q, max_steps), target, tried)


def tune_model_error(
    problems: Problem, score, grid: Sequence[float] = TUNING_GRID, max_steps: int | None = None
) -> tuple[float, list[dict]]:
    """The q of `grid` with the lowest median `score(windows, problems)` (e.g. window RMSE against the
    truth), and every grid point's median score."""
    check_range("grid", list(grid), Q_MIN, Q_MAX)
    rows = []
    for q in grid:
        windows = analyse_batch(Weak4DVar(q, max_steps), problems).window
        scores = np.asarray(score(windows, problems), np.float64)
        # A solve that blew up scores worst, not NaN (NaN would never compare below the others).
        scores = np.where(np.isfinite(scores), scores, np.inf)
        rows.append({"q": float(q), "median_rmse": float(np.median(scores))})
    best = min(rows, key=lambda row: row["median_rmse"])
    return best["q"], rows
