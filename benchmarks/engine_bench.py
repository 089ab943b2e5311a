"""N trainings pressed at once: the single machine's queue against an engine with 2 workers.

    python -m benchmarks.engine_bench [--trainings 4] [--workers 2] [--steps 800] [--json]

Each side starts N `TrainingJob`s of the Train tab's default (batch 16, `--steps` from scratch) at
once, as N students pressing Train, and times from the presses until every model is saved (verdict
included). The local side is today's: the file queue, one niced worker process at a time. The engine
side is a scheduler and `--workers` single-threaded worker processes (`LocalCluster`, allowed-failures
0, as `python -m dashboard.training.engine` starts them); half the trainings are pressed through one
client and half through another, as on two servers. Both sides share one fresh cache folder and its
JAX cache, warmed first by one training that is not timed, so neither pays the compile.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def _uptime() -> str:
    return "load average {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def _press(n: int, steps: int, tag: str) -> float:
    from dashboard.training.train_job import TrainingJob

    config = _config(steps)
    began = time.perf_counter()
    jobs = [TrainingJob.start(config, f"{tag} {i}", f"{i:032x}") for i in range(n)]
    for job in jobs:
        job.thread.join()
    failed = [job.error for job in jobs if job.error]
    if failed:
        raise RuntimeError(f"{len(failed)} training(s) failed: {failed[0]}")
    return time.perf_counter() - began


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--trainings", type=int, default=4, help="trainings pressed at once (1..16)")
    parser.add_argument("--workers", type=int, default=2, help="the engine's workers (1..8)")
    parser.add_argument("--steps", type=int, default=800, help="steps of each training (1..10000)")
    parser.add_argument("--engine-first", action="store_true", help="time the engine before the local queue")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    for name, value, high in (("--trainings", args.trainings, 16), ("--workers", args.workers, 8)):
        if not 1 <= value <= high:
            parser.error(f"{name} must be between 1 and {high}; got {value}")
    if not 1 <= args.steps <= 10_000:
        parser.error(f"--steps must be between 1 and 10000; got {args.steps}")
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="l63-engine-bench-")  # (the workers inherit it)

    results = {"trainings": args.trainings, "workers": args.workers, "steps": args.steps}
    _press(1, args.steps, "warm")  # compiles into the shared JAX cache: not timed
    sides = [("local", lambda: _press(args.trainings, args.steps, "local")), ("engine", lambda: _on_engine(args))]
    for side, timed in reversed(sides) if args.engine_first else sides:
        results[f"load_before_{side}"] = _uptime()
        results[f"{side}_s"] = timed()
        results[f"load_after_{side}"] = _uptime()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:20s} {value:.1f}" if isinstance(value, float) else f"{key:20s} {value}")
    return 0


def _niced_cluster(n_workers: int):
    """A `LocalCluster` whose worker processes run at the local training worker's niceness (as the engine
    command's do): started from a thread of its own that lowers its priority first (on Linux a thread's
    niceness, which the cluster's threads and processes started from it inherit), so that both sides of
    the comparison yield alike to the machine's other jobs."""
    import threading

    from distributed import LocalCluster

    from dashboard.training.dask_engine import ALLOWED_FAILURES
    from dashboard.training.train_worker import NICE

    made = []

    def start():
        os.nice(NICE)
        made.append(
            LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                worker_dashboard_address=":0",  # (the workers' metrics on free ports: no warning)
                scheduler_kwargs={"allowed_failures": ALLOWED_FAILURES},
            )
        )

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    return made[0]


def _on_engine(args) -> float:
    """The trainings on a scheduler and `args.workers` workers, pressed half through each of two clients."""
    from dashboard.training.dask_engine import DaskEngine
    from dashboard.training.train_job import TrainingJob
    from dashboard.training.train_worker import NICE

    with _niced_cluster(args.workers) as cluster:
        server_a, server_b = DaskEngine(cluster.scheduler_address), DaskEngine(cluster.scheduler_address)
        try:
            began = time.perf_counter()
            servers = [server_a if i < args.trainings // 2 else server_b for i in range(args.trainings)]
            jobs = [
                TrainingJob.start(_config(args.steps), f"engine {i}", f"{i:032x}", engine=server)
                for i, server in enumerate(servers)
            ]
            for job in jobs:
                job.thread.join()
            seconds = time.perf_counter() - began
            niceness = set(server_a.client.run(os.nice, 0).values())
            if niceness != {os.nice(0) + NICE}:
                raise RuntimeError(f"the workers ran at niceness {niceness}, not the local worker's")
        finally:
            server_a.close()
            server_b.close()
    failed = [job.error for job in jobs if job.error]
    if failed:
        raise RuntimeError(f"{len(failed)} training(s) failed on the engine: {failed[0]}")
    return seconds


def _config(steps: int):
    import core
    from dashboard.training.train_worker import DEFAULT_BATCH_SIZE, LEARNING_RATES

    return core.TrainingConfig(steps=steps, batch_size=DEFAULT_BATCH_SIZE, learning_rate=LEARNING_RATES["scratch"])


if __name__ == "__main__":
    raise SystemExit(main())
