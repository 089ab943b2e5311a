"""A dashboard training in its own process, at a lower priority than the server.

    python -m dashboard.train_worker < config.json

The server (`train.TrainingJob`) starts this niced (`os.nice(NICE)`), so that the classroom's
exploring students, served by the server process, keep the CPU when a training competes for it; the
training's XLA threads are this process's, and niceness is per process. It reads a
`core.TrainingConfig` as JSON on stdin, writes one JSON line per step (`{"step": n, "loss": x}`) on
stdout, saves the model in the user's model folder (`models.registry.save_file`) and ends with
`{"saved": key}` (its registry key), or `{"error": message}`. Cancelling is ending the process.
"""

from __future__ import annotations

import json
import math
import sys

NICE = 10  # the worker's niceness, added to the server's


def _emit(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main() -> int:
    import numpy as np

    import core

    from .models import registry

    config = core.TrainingConfig.from_json(json.loads(sys.stdin.read()))
    model, report = core.fit(config, callback=lambda step, loss: _emit({"step": step, "loss": loss}))
    final = float(np.mean(report.losses[-10:])) if report.losses else float("nan")
    if not math.isfinite(final):
        _emit({"error": "the training loss became not-a-number"})
        return 1
    info = {
        "final_loss": final,
        "train_time_s": report.train_time_s,
        "compile_s": report.compile_s,
        "trained_by": "dashboard",
    }
    path = registry.save_file(model, config, info)
    _emit({"saved": f"user/{path.name}"})
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # noqa: BLE001 - the server shows this line to the student
        _emit({"error": f"{exc.__class__.__name__}: {exc}"})
        sys.exit(1)
