"""A dashboard training in its own process, at a lower priority than the server.

    python -m dashboard.training.train_worker < request.json
    python -m dashboard.training.train_worker --warm      # compile the default training and verdict ahead

The server (`train.TrainingJob`) starts this niced (`worker_command`: `nice -n NICE`), so that the classroom's
exploring students, served by the server process, keep the CPU when a training competes for it; the
training's XLA threads are this process's, and niceness is per process. It reads a `TrainRequest`
as JSON on stdin (a bare `core.TrainingConfig` is read as a request from scratch), writes one JSON
line per step (`{"step": n, "loss": x}`) on stdout, then `{"evaluating": n}` while it judges the
model against strong 4DVar on n held-out problems (`train_verdict.py`), saves the model with its
name, owner and verdict in the user's model folder (`models.registry.save_file`) and ends with
`{"saved": key, "verdict": {...}, "timings": {...}}`, or `{"error": message}`. Cancelling is ending
the process. JAX's persistent compilation cache (`jitcache.py`) spares a later training the compile.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass

NICE = 10  # the worker's niceness, added to the server's


def worker_command(*args: str) -> list[str]:
    """This worker at a lower priority (`nice`, coreutils). Not `preexec_fn=os.nice`: that forks the
    server, whose JAX threads are running, before the exec (JAX warns of a deadlock)."""
    return ["nice", "-n", str(NICE), sys.executable, "-m", "dashboard.training.train_worker", *args]


# The Train tab's default training by starting point (its sliders start here): on the classroom's 2 cores
# each gives a usable model in under half a minute (`python -m benchmarks.train_bench`, docs/classroom.md).
# From scratch, batches of 16 beat fewer steps of larger batches for the same time; the median error
# levels off near 1.2x 4DVar's from ~600 steps on, whatever the optimiser's details (clipping, warm-up).
DEFAULT_STEPS = {"scratch": 800, "shipped": 200}
DEFAULT_BATCH_SIZE = 16
# Adam's step size by starting point: fresh weights learn fast; the shipped model is only nudged.
LEARNING_RATES = {"scratch": 1e-2, "shipped": 5e-4}
START_FROM = {  # what the page says of each starting point
    "scratch": "from scratch (random weights)",
    "shipped": "from the shipped model (fine-tuned)",
}
START_BUTTONS = {"scratch": "from scratch", "shipped": "fine-tune shipped model"}  # the tab's two buttons


@dataclass(frozen=True)
class TrainRequest:
    """What the Train tab asks of the worker: the configuration, the student's name for the model,
    the owner id (`owners.py`), and where the weights start ("scratch" or "shipped")."""

    config: object  # core.TrainingConfig (imported lazily: this module is imported by the server too)
    name: str = "model"
    owner: str = ""
    start_from: str = "scratch"

    def __post_init__(self):
        if self.start_from not in START_FROM:
            raise ValueError(f"start from must be one of {', '.join(START_FROM)}; got {self.start_from!r}")

    def to_json(self) -> dict:
        return {"config": self.config.to_json(), "name": self.name, "owner": self.owner, "start_from": self.start_from}

    @classmethod
    def from_json(cls, data: dict) -> TrainRequest:
        import core

        if "config" not in data:  # a bare configuration
            return cls(config=core.TrainingConfig.from_json(data))
        return cls(
            config=core.TrainingConfig.from_json(data["config"]),
            name=str(data.get("name", "model")),
            owner=str(data.get("owner", "")),
            start_from=str(data.get("start_from", "scratch")),
        )


def _emit(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def initial_model(request: TrainRequest):
    """The weights a training starts from: fresh ones, or the shipped model for the config's preset.

    Raises:
        ValueError: no shipped model of this architecture and these hyper-parameters for the preset.
    """
    import core
    from core.nets.model_files import shipped_model_path

    config = request.config
    if request.start_from == "scratch":
        return core.build_model(config)
    path = shipped_model_path(config.preset)
    try:
        model, header = core.load_model(path, architecture=config.architecture)
    except core.ModelFileError:
        raise ValueError(f"there is no shipped model to start from for the {config.preset} problem") from None
    shipped = core.TrainingConfig.from_json(header["config"])
    defaults = core.nets.training.DEFAULT_HYPERPARAMETERS
    if {**defaults, **shipped.hyperparameters} != {**defaults, **config.hyperparameters}:
        raise ValueError("the shipped model has other hyper-parameters than this training")
    return model


def train_and_judge(request: TrainRequest, emit=_emit) -> dict:
    """Train as the request says, judge the model against 4DVar, save it; returns the final message."""
    import numpy as np

    import core
    from dashboard.data.jitcache import enable_compilation_cache
    from dashboard.training.models import registry
    from dashboard.views.train_verdict import N_HELD_OUT, model_verdict

    began = time.perf_counter()
    enable_compilation_cache()
    config = request.config
    model = initial_model(request)
    model, report = core.fit(config, model=model, callback=lambda step, loss: emit({"step": step, "loss": loss}))
    final = float(np.mean(report.losses[-10:])) if report.losses else float("nan")
    if report.losses and not math.isfinite(final):
        return {"error": "the training loss became not-a-number"}
    trained = time.perf_counter()
    emit({"evaluating": N_HELD_OUT})
    verdict = model_verdict(model, config)
    judged = time.perf_counter()
    info = {
        "name": request.name,
        "owner": request.owner,
        "start_from": request.start_from,
        "final_loss": final if math.isfinite(final) else None,
        "train_time_s": report.train_time_s,
        "compile_s": report.compile_s,
        "verdict": verdict.to_json(),
        "trained_by": "dashboard",
    }
    path = registry.save_file(model, config, info, stem=request.name)
    timings = {
        "train_s": trained - began,
        "verdict_s": judged - trained,
        "total_s": time.perf_counter() - began,
        "compile_s": report.compile_s,
    }
    return {"saved": f"user/{path.name}", "verdict": verdict.to_json(), "timings": timings}


def default_request(start_from: str = "scratch") -> TrainRequest:
    """The request of the Train button on the sidebar's and the tab's default settings."""
    import core

    config = core.TrainingConfig(
        steps=DEFAULT_STEPS[start_from], batch_size=DEFAULT_BATCH_SIZE, learning_rate=LEARNING_RATES[start_from]
    )
    return TrainRequest(config=config, start_from=start_from)


def warm(request: TrainRequest | None = None) -> float:
    """Compile one training step and the verdict of `request` (the default one if None) into JAX's
    persistent cache, so that the first training on a fresh server loads them instead of compiling
    (`python -m dashboard.training.train_worker --warm`, e.g. from the server's warm-up). Saves nothing.

    Returns:
        The seconds it took.
    """
    import equinox as eqx
    import jax

    from core.nets.training import ARCHITECTURES
    from dashboard.data.jitcache import enable_compilation_cache
    from dashboard.views.train_verdict import model_verdict

    began = time.perf_counter()
    enable_compilation_cache()
    request = request or default_request()
    config = request.config
    model = initial_model(request)
    optimizer, step = ARCHITECTURES[config.architecture].training_scheme(config)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))
    jax.block_until_ready(step(model, opt_state, jax.random.PRNGKey(0), 0))
    model_verdict(model, config)
    return time.perf_counter() - began


def main() -> int:
    if sys.argv[1:] == ["--warm"]:
        seconds = warm()
        _emit({"warmed_s": seconds})
        return 0
    request = TrainRequest.from_json(json.loads(sys.stdin.read()))
    outcome = train_and_judge(request)
    _emit(outcome)
    return 1 if "error" in outcome else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # noqa: BLE001 - the server shows this line to the student
        _emit({"error": f"{exc.__class__.__name__}: {exc}"})
        sys.exit(1)
