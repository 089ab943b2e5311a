"""Is a freshly trained model usable? Its median window RMSE against strong 4DVar's, on held-out problems.

The verdict runs in the training's worker process (niced, `train_worker.py`) right after the last
step, through the one evaluation path (`core.evaluate`) and the methods' registry ("strong_4dvar":
Gauss-Newton with its default iteration cap), on `N_HELD_OUT` problems drawn with the training's
settings from a key no training uses. "Usable" means a median within `USABLE_RATIO` times 4DVar's.
It is stored in the model file's header (`info["verdict"]`) so that a reload shows it again.
No Panel here.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import jax
import numpy as np

import core

N_HELD_OUT = 100
USABLE_RATIO = 1.3
# Training draws its problems from PRNGKey(seed + 1) with seed < 10_000 (`core.fit`, the Train tab's
# seeds); this root key is none of those, so the held-out problems are not training problems.
HELD_OUT_KEY = 20_261_130


@dataclass(frozen=True)
class Verdict:
    """Medians and p10-p90 spreads of window RMSE (`rmse_assim`) for the model and strong 4DVar."""

    n_problems: int
    model_median: float
    model_p10: float
    model_p90: float
    fourdvar_median: float
    fourdvar_p10: float
    fourdvar_p90: float
    limit: float = USABLE_RATIO
    seconds: float = math.nan  # how long the evaluation took (both methods, compile included)

    @property
    def ratio(self) -> float:
        return self.model_median / self.fourdvar_median if self.fourdvar_median > 0 else math.inf

    @property
    def usable(self) -> bool:
        return math.isfinite(self.ratio) and self.ratio <= self.limit

    def summary(self) -> str:
        """One short phrase for a model list, e.g. "usable: 1.21x 4DVar"."""
        return f"{'usable' if self.usable else 'not yet usable'}: {self.ratio:.2f}x 4DVar"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data) -> Verdict | None:
        """The verdict stored in a model file, or None if there is none (or it is malformed)."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(**{k: (int(v) if k == "n_problems" else float(v)) for k, v in data.items()})
        except (TypeError, ValueError):
            return None

    def html(self) -> str:
        """The Train tab's verdict paragraph (every number rounded to 3 significant figures)."""
        spread = (
            f"p10-p90 {self.model_p10:.3g}-{self.model_p90:.3g} against 4DVar's "
            f"{self.fourdvar_p10:.3g}-{self.fourdvar_p90:.3g}"
        )
        numbers = (
            f"Median window RMSE <b>{self.model_median:.3g}</b> against strong 4DVar's "
            f"<b>{self.fourdvar_median:.3g}</b> on {self.n_problems} held-out problems: "
            f"<b>{self.ratio:.2f}x</b> ({spread})"
        )
        if self.usable:
            head = f'<span class="good">usable (within {self.limit:g}x of 4DVar)</span>'
        else:
            head = (
                f'<span class="bad">not yet: {self.ratio:.2f}x 4DVar\'s error, more than {self.limit:g}x</span> '
                "(train longer, or start from the shipped model)"
            )
        return f"<p>Verdict: {head}. {numbers}.</p>"


def judge(model_rmse, fourdvar_rmse, *, limit: float = USABLE_RATIO, seconds: float = math.nan) -> Verdict:
    """The verdict from per-problem window RMSEs of the model and of 4DVar on the same problems."""
    model_stats = core.summarize(np.asarray(model_rmse))
    fourdvar_stats = core.summarize(np.asarray(fourdvar_rmse))
    return Verdict(
        n_problems=int(np.asarray(model_rmse).size),
        model_median=model_stats["median"],
        model_p10=model_stats["p10"],
        model_p90=model_stats["p90"],
        fourdvar_median=fourdvar_stats["median"],
        fourdvar_p10=fourdvar_stats["p10"],
        fourdvar_p90=fourdvar_stats["p90"],
        limit=limit,
        seconds=seconds,
    )


def held_out_problems(config: core.TrainingConfig, n_problems: int = N_HELD_OUT) -> core.Problem:
    """`n_problems` problems with the training's settings (its first choice of each), never trained on."""
    return core.generate_problems(
        jax.random.PRNGKey(HELD_OUT_KEY),
        n_problems,
        preset=config.preset,
        obs_every=config.obs_every[0],
        obs_noise=config.obs_noise[0],
        observed=config.observed[0],
        T_assim=config.T_assim[0],
    )


def method_verdict(method: core.AbstractMethod, config: core.TrainingConfig, n_problems: int = N_HELD_OUT) -> Verdict:
    """Any method against strong 4DVar on the held-out problems of `config` (the evaluation path)."""
    start = time.perf_counter()
    problems = held_out_problems(config, n_problems)
    fourdvar = core.build_methods(core.MethodContext(), learned=False)["strong_4dvar"]
    ours = core.evaluate(method, problems, timing=None)
    theirs = core.evaluate(fourdvar, problems, timing=None)
    return judge(ours.rmse_assim, theirs.rmse_assim, seconds=time.perf_counter() - start)


def model_verdict(model, config: core.TrainingConfig, n_problems: int = N_HELD_OUT) -> Verdict:
    """A trained FourDVarNet (either architecture) against strong 4DVar on held-out problems."""
    return method_verdict(core.learned_method(model), config, n_problems)
