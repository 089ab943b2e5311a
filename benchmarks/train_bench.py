"""Measure the Train button: from the press, on the default settings, to a saved model and its verdict.

    python -m benchmarks.train_bench [--runs 3] [--start-from scratch|shipped] [--cache DIR] [--json]

It builds the Train tab as a page does (`TrainView` over a default `ExperimentState`), presses its
button (`runner.start()`, the same queue, niced worker, verdict and save as in class) and polls it
as the page would, then prints for each run the wall time from the press to the saved model (the
verdict included: the worker judges the model before saving it), the training's compile and steps,
the verdict's time, and the verdict: the model's median window RMSE on the held-out problems,
strong 4DVar's, their ratio, usable or not. Runs share one cache folder (by default a fresh
temporary one, so the first run is a first training on a fresh server, compile included, and the
later ones load the compiled code from JAX's persistent cache), so that no model lands in yours.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time


def _arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="trainings in a row (1..10)")
    parser.add_argument("--start-from", choices=("scratch", "shipped"), default=None, help="the tab's default if unset")
    parser.add_argument("--cache", default=None, help="cache folder (default: a fresh temporary one)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 10:
        parser.error(f"--runs must be between 1 and 10; got {args.runs}")
    return args


def main(argv=None) -> int:
    args = _arguments(argv)
    cache = args.cache or tempfile.mkdtemp(prefix="l63-train-bench-")
    os.environ["XDG_CACHE_HOME"] = cache  # models, queue and JAX cache: all under it (read at each use)

    from dashboard.state.explore import ExperimentState
    from dashboard.views.train import TrainView

    view = TrainView(state=ExperimentState())
    if args.start_from:
        view.settings.start_from = args.start_from
    results = []
    for run in range(1, args.runs + 1):
        pressed = time.perf_counter()
        job = view.runner.start()
        if job is None:
            print(f"run {run}: the Train button refused: {view.runner.status.object}", file=sys.stderr)
            return 1
        while not job.done:
            view.runner.poll()
            time.sleep(0.1)
        done = time.perf_counter() - pressed
        view.runner.poll()
        if job.error:
            print(f"run {run}: {job.error}", file=sys.stderr)
            return 1
        v = job.verdict
        results.append(
            {
                "run": run,
                "press_to_saved_model_s": done,
                "worker_total_s": job.timings.get("total_s"),
                "compile_s": job.timings.get("compile_s"),
                "training_s": job.timings.get("train_s"),
                "verdict_s": job.timings.get("verdict_s"),
                "steps": job.config.steps,
                "batch_size": job.config.batch_size,
                "start_from": job.request.start_from,
                "n_held_out": v.n_problems,
                "model_median": v.model_median,
                "model_p10_p90": [v.model_p10, v.model_p90],
                "fourdvar_median": v.fourdvar_median,
                "fourdvar_p10_p90": [v.fourdvar_p10, v.fourdvar_p90],
                "ratio": v.ratio,
                "usable": v.usable,
            }
        )
        r = results[-1]
        if not args.json:
            print(
                f"run {run}: press -> saved model {done:.1f} s (worker {r['worker_total_s']:.1f} s: training "
                f"{r['training_s']:.1f} s incl. compile {r['compile_s']:.1f} s, verdict {r['verdict_s']:.1f} s); "
                f"{r['steps']} steps x {r['batch_size']} from {r['start_from']}; median RMSE {v.model_median:.4f} vs "
                f"4DVar {v.fourdvar_median:.4f} on {v.n_problems} held-out problems: ratio {v.ratio:.3f} "
                f"({'usable' if v.usable else 'NOT usable'})",
                flush=True,
            )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
