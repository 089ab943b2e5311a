"""The 4DVarNet authors' Lorenz-96 window problem (issue 17, item 4), by name.

Nx = 40, F = 8, dt = 0.05, windows of 200 steps, observations every 4 steps of a random 50% of the
variables (drawn per observation time), noise variance 2. The authors train on 2000 windows and test on
256; their saved notebook run (true-model prior + LSTM solver) reaches a test MSE of 0.827 (RMSE ~0.91).
Test windows come from a fold of the key that training never uses (training draws from
`PRNGKey(seed + 1)` splits), so the two sets are apart.
"""

from __future__ import annotations

import math

import jax

from core._validate import check_range
from core.setups.problems import Problem, generate_problems

AUTHORS_SETUP = dict(
    system="lorenz96",
    dt=0.05,
    n_variables=40,
    forcing=8.0,
    T_assim=200,
    obs_every=4,
    obs_noise=math.sqrt(2.0),  # the authors give the variance, 2
    observed_share=0.5,
)
N_TRAIN = 2000
N_TEST = 256
ANCHOR_MSE = 0.827  # the authors' notebook run, true-model prior + LSTM solver
ANCHOR_RMSE = math.sqrt(ANCHOR_MSE)
TEST_KEY = 2026
TEST_FOLD = 96  # folded into the test key: no training key is a fold


def authors_test_problems(n_problems: int = N_TEST, key: int = TEST_KEY, **overrides) -> Problem:
    """`n_problems` test windows of the authors' set-up (`overrides`, e.g. a shorter `T_assim`, for tests)."""
    check_range("n_problems", n_problems, 1, 100_000, integer=True)
    settings = {**AUTHORS_SETUP, **overrides}
    settings.setdefault("T_total", settings["T_assim"])
    return generate_problems(jax.random.fold_in(jax.random.PRNGKey(key), TEST_FOLD), n_problems, **settings)
