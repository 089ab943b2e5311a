"""The Landscape tab's numbers: 4DVar's cost J(x0) on a plane through the true x0, and the paths on it.

Everything comes from `core` (`cost_landscape`, `solver_walk`, `weak_4dvar_walk`, `fourdvarnet_path`), on the problem
the Explore settings make (`compute.make_problem`: the same preset, density, noise, components,
seed, window and methods' rho). The grid and the 4DVar paths (weak 4DVar's too, at the Explore
tab's q, its registry default) are computed on the problem padded to 300 steps
(`core.pad_problem`), so they compile once for every window length; FourDVarNet's path compiles
once per length (`warmup.py` warms them all). Results are plain numpy, memoised on their
arguments across sessions, as `compute.solve` is.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import jax
import numpy as np

import core
from core.methods.weak_variational import DEFAULT_Q
from core.studies.landscape import PLANES as PLANES_AXES
from core.studies.landscape import solver_walk, weak_4dvar_walk
from core.systems.lorenz import RHO
from dashboard.data import compute
from dashboard.data.compute import Settings
from dashboard.data.memo import shared_cache
from dashboard.server.pagefirst import PAGE_WORK
from dashboard.training.models import registry

PLANES = tuple(PLANES_AXES)  # "x-y", "x-z", "y-z"
GRID_POINTS = 64  # per side: 4096 costs, vmapped
EXTENT_BOUNDS = (0.25, 5.0)  # half-width of the grid, in background standard deviations
PATH_LABELS = {"gauss-newton": "Gauss-Newton", "bfgs": "BFGS", "quasi-static": "quasi-static"}
WEAK = "weak_4dvar"  # its registry name: its path is its first state x_0 after each Gauss-Newton step
PATH_COLORS = {
    "gauss-newton": "#1f5fbf",
    "bfgs": "#5fa8e8",
    "quasi-static": "#e07b00",
    WEAK: core.registered_methods()[WEAK].colour,
    "fourdvarnet": "#d63fd6",
}
LABELS = {**PATH_LABELS, WEAK: "weak 4DVar (first state)", "fourdvarnet": "FourDVarNet"}
COST_FLOOR = 1e-3  # the log colour scale cannot show 0


@dataclass
class Grid:
    """J on an n x n grid of the plane (rows: the plane's second component)."""

    plane: str
    axes: tuple[int, int]
    first: np.ndarray  # (n,) the first component's values
    second: np.ndarray  # (n,) the second component's values
    cost: np.ndarray  # (n, n)
    compute_ms: float  # server time of the grid (a cached result keeps the first one's)


@dataclass
class Paths:
    """Where each solver went, in the full 3-D state (the view projects them onto its plane)."""

    truth: np.ndarray  # (3,) the true x0
    background: np.ndarray  # (3,)
    paths: dict  # name -> (m, 3) iterates, repeated points (a solver that stopped) removed
    final_cost: dict  # name -> J at the path's last point
    truth_cost: float  # J at the true x0
    window: int
    broke_down: dict = dataclasses.field(default_factory=dict)  # name -> True where a step came out not finite
    capped: dict = dataclasses.field(default_factory=dict)  # name -> True where it stopped at its step cap
    # name -> True where the solver's own chi-square verdict calls its end a wrong minimum (weak 4DVar's:
    # its cost is not the strong one drawn, so the strong cost's ratio is no verdict on it)
    wrong_minimum: dict = dataclasses.field(default_factory=dict)
    # The methods' model is not the truth's (rho, or model noise): then a cost below the truth's is no
    # sign of a right answer (the wrong model's valley can fit the data better than the truth does).
    model_error: bool = False

    def failed_at_first_step(self, name: str) -> bool:
        """True where the solver broke down before taking a single step (it never left the background)."""
        return bool(self.broke_down.get(name, False)) and len(self.paths[name]) == 1

    def outcome(self, name: str) -> str:
        """How the path ended, in a few words: "12 steps", "K = 5", "failed at the first step",
        "3 steps, then failed", "300 steps, not converged"."""
        steps = len(self.paths[name]) - 1
        if name == "fourdvarnet":
            return f"K = {steps}"
        if self.failed_at_first_step(name):
            return "failed at the first step"
        if self.broke_down.get(name, False):
            return f"{steps} steps, then failed"
        if self.capped.get(name, False):
            return f"{steps} steps, not converged"
        return f"{steps} steps"


def check_extent(extent: float) -> float:
    """Raises ValueError (naming `extent` and its range) unless `extent` is a usable half-width."""
    lo, hi = EXTENT_BOUNDS
    if isinstance(extent, bool) or not isinstance(extent, (int, float)) or not lo <= extent <= hi:
        raise ValueError(f"extent must be a number of background stds from {lo} to {hi}; got {extent!r}")
    return float(extent)


def _checked_problem(settings: Settings) -> core.Problem:
    if settings.window not in compute.WINDOWS:
        raise ValueError(f"window must be one of {', '.join(map(str, compute.WINDOWS))} steps; got {settings.window!r}")
    return compute.make_problem(settings)


def _distinct(path: np.ndarray) -> np.ndarray:
    """The iterates up to where the solver stopped (the path repeats its last point from there)."""
    moved = np.any(np.abs(np.diff(path, axis=0)) > 0, axis=1)
    last = (np.nonzero(moved)[0][-1] + 2) if moved.any() else 1
    return path[:last]


def compute_grid(settings: Settings, plane: str, extent: float, n: int = GRID_POINTS) -> Grid:
    """J over the plane `plane` ("x-y", "x-z", "y-z"), `extent` background stds either side of the truth.

    Raises:
        ValueError: a setting, the plane or the extent is out of range (the message names it).
    """
    extent = check_extent(extent)
    problem = _checked_problem(settings)
    start = time.perf_counter()
    land = core.cost_landscape(problem, plane, extent, n)
    cost = np.asarray(land.cost, dtype=np.float64)
    elapsed = (time.perf_counter() - start) * 1e3
    return Grid(
        plane=plane,
        axes=tuple(land.axes),
        first=np.asarray(land.first, dtype=np.float64),
        second=np.asarray(land.second, dtype=np.float64),
        cost=cost,
        compute_ms=elapsed,
    )


def compute_paths(settings: Settings) -> Paths:
    """The truth, the background, the 4DVar solvers' iterates and FourDVarNet's first states.

    Raises:
        ValueError: a setting is out of range.
    """
    problem = _checked_problem(settings)
    walks = {name: solver_walk(problem, name) for name in PATH_LABELS}
    weak = weak_4dvar_walk(problem, DEFAULT_Q)
    paths = {name: _distinct(np.asarray(walk.path, dtype=np.float64)) for name, walk in walks.items()}
    paths[WEAK] = _distinct(np.asarray(weak.path, dtype=np.float64))
    model = registry.get(settings.model).model
    if hasattr(model, "first_states"):  # our FourDVarNet (the reference architecture has no such path)
        paths["fourdvarnet"] = np.asarray(core.fourdvarnet_path(model, problem, settings.n_steps), dtype=np.float64)
    # Always 1 + 5 points (the truth repeated where a path is missing): one compile for all.
    ends = [p[-1] for p in paths.values()]
    points = np.stack([problem.truth[0]] + ends + [problem.truth[0]] * (len(PATH_COLORS) - len(ends)))
    costs = np.asarray(_point_costs(points.astype(np.float32), core.pad_problem(problem)), dtype=np.float64)
    return Paths(
        truth=np.asarray(problem.truth[0], dtype=np.float64),
        background=np.asarray(problem.background_mean, dtype=np.float64),
        paths=paths,
        final_cost={name: float(c) for name, c in zip(paths, costs[1 : 1 + len(paths)], strict=True)},
        truth_cost=float(costs[0]),
        window=settings.window,
        broke_down={**{name: bool(walk.broke_down) for name, walk in walks.items()}, WEAK: bool(weak.broke_down)},
        capped={WEAK: not bool(weak.converged) and not bool(weak.broke_down)},
        wrong_minimum={WEAK: bool(weak.wrong_minimum)},
        model_error=settings.model_rho != RHO or settings.model_noise > 0,
    )


# J at a few points, on the problem padded to 300 steps (J unchanged): one compile for every length.
_point_costs = jax.jit(jax.vmap(core.cost, in_axes=(0, None)))


def _grid_key(fields: tuple, plane: str, extent: float) -> Grid:
    return compute_grid(Settings(*fields), plane, extent)


def _paths_key(fields: tuple, model_version: float) -> Paths:
    # model_version (the file's mtime): a retrained file under the same name is a new key.
    return compute_paths(Settings(*fields))


_grid_cached = shared_cache(_grid_key)
_paths_cached = shared_cache(_paths_key)


def _relevant(settings: Settings, **fields) -> tuple:
    """The settings as a hashable tuple, with what the landscape does not depend on set to constants
    (which methods are shown, the Explore iteration cap), so that those moves reuse the cache."""
    settings = dataclasses.replace(settings, methods=(), max_steps=compute.ITERATION_CAPS[0], **fields)
    return dataclasses.astuple(settings)


def grid(settings: Settings, plane: str, extent: float) -> Grid:
    """`compute_grid`, memoised across sessions (the result is shared: read only).

    Raises:
        ValueError: as `compute_grid`.
    """
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {', '.join(PLANES)}; got {plane!r}")
    with PAGE_WORK.busy():  # the classroom warm-up's compiles wait meanwhile (pagefirst.py)
        return _grid_cached(_relevant(settings, model="", n_steps=0), plane, check_extent(extent))


def paths(settings: Settings) -> Paths:
    """`compute_paths`, memoised across sessions (the result is shared: read only).

    Raises:
        ValueError: as `compute_paths`.
    """
    model = registry.resolve(settings.model)
    with PAGE_WORK.busy():
        return _paths_cached(_relevant(settings, model=model), registry.version_of(model))
