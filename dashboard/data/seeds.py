"""'Run on 100 seeds': the current settings on many problems, each metric as a median and a p10-p90 range.

One seed can mislead (a lucky truth, an unlucky noise draw); this runs every shown method on
`N_SEEDS` problems drawn with the sidebar's settings (`core.generate_problems`, vmapped) and
summarises each metric with `core.Evaluation.statistics()`. Results are memoised per settings, so
a class pressing the button together costs one run.
"""

from __future__ import annotations

import functools
import html
import threading

import jax

import core
from dashboard.data.compute import Settings, method_labels
from dashboard.data.export import fmt
from dashboard.training.models import registry

N_SEEDS = 100
METRICS = (  # (statistics key, column title)
    ("rmse_assim", "RMSE window"),
    ("rmse_forecast", "RMSE forecast"),
    ("rmse_total", "RMSE total"),
    ("predictability_time", "predictability time"),
)
_lock = threading.Lock()


@functools.lru_cache(maxsize=64)
def _statistics(settings: Settings, model_version: float, n_seeds: int) -> dict[str, dict]:
    entry = registry.get(settings.model)
    problems = core.generate_problems(
        jax.random.PRNGKey(settings.seed),
        n_seeds,
        preset=settings.preset,
        obs_every=settings.obs_every,
        obs_noise=settings.obs_noise,
        observed=settings.observed,
    )
    context = core.MethodContext(model=entry.model, max_steps=settings.max_steps, n_steps=settings.n_steps)
    built = core.build_methods(context)
    return {
        name: core.evaluate(built[name], problems, timing=None).statistics()
        for name in settings.methods
        if name in built
    }


def many_seeds(settings: Settings, n_seeds: int = N_SEEDS) -> dict[str, dict]:
    """Every method of `settings` on `n_seeds` problems (seeds drawn from `settings.seed`): method ->
    `core.Evaluation.statistics()` (each metric's median, p10, p90 and mean; the converged share).

    Raises:
        ValueError: a setting is out of range (core checks every bound).
    """
    key = registry.resolve(settings.model)
    with _lock:  # one run at a time: the server has 2 cores
        return _statistics(settings, registry.version_of(key), n_seeds)


def many_seeds_html(settings: Settings, statistics: dict[str, dict]) -> str:
    """The statistics as a table: median and [p10 - p90] of every metric, per method."""
    labels = method_labels()
    head = "".join(f"<th>{title}</th>" for _, title in METRICS) + "<th>converged</th>"
    rows = []
    for name, stats in statistics.items():
        cells = "".join(
            f"<td>{fmt(stats[k]['median'])} <small>[{fmt(stats[k]['p10'])} - {fmt(stats[k]['p90'])}]</small></td>"
            for k, _ in METRICS
        )
        share = stats.get("converged_fraction")
        cells += f"<td>{'-' if share is None else f'{100 * share:.0f}%'}</td>"
        rows.append(f"<tr><td>{html.escape(labels.get(name, name))}</td>{cells}</tr>")
    n = next(iter(statistics.values()))["n_problems"] if statistics else 0
    caption = (
        f"{n} problems with these settings (seeds drawn from seed {settings.seed}): median [p10 - p90]; "
        "a forecast that keeps its skill to the end counts as the run's length"
    )
    return (
        f'<div class="table-scroll"><table class="metrics seeds"><caption>{html.escape(caption)}</caption>'
        f"<tr><th>method</th>{head}</tr>{''.join(rows)}</table></div>"
    )
