"""Before a run starts: about how long it will take, from its flags, and a refusal past the budget.

Each estimate is the run's work (model steps, problems, training steps) times a rate measured on
this project's machines: 2 CPU cores shared with other jobs (load ~3-7), so the rates are already
slow, about twice an idle machine's. That is the safety margin: a refusal may be early, never late
by much; `--allow-long` runs it anyway. The rates below say where each came from.
"""

from __future__ import annotations

BUDGET_S = 600.0  # a command that would run longer says so and stops, unless --allow-long
NOTE_S = 60.0  # a command that should take longer says so before it starts

# ---- cycle (python -m core cycle): ms per cycle of each method, measured with core.run_cycle
# (200 warm cycles) at --obs-every 25 unless said; time_cycle runs the cycle once to compile and 3 more times.
MEMBER_STEP_MS = 1.3e-4  # one RK4 step of one member inside a cycle: enkf_perturbed 0.040 ms at N 10, 0.32 at N 100
CYCLE_RUNS = 4
CYCLE_COMPILE_S = 10.0  # each method's first run: 1-9 s measured
CYCLE_FIXED_MS = {"oi": 0.005, "var3d": 0.005, "fourdvarnet": 0.7}  # measured 0.0045, 0.0045, 0.67
# strong_4dvar per window step (10 Gauss-Newton iterations through it): 0.097 ms a cycle at lag 1 x 25 steps,
# 0.22 at 5 x 25, 0.38 at 1 x 200, 2.1 at 10 x 100, 3.8 at 50 x 25; 29 ms over 80 cycles at 50 x 1000 (~42 full)
FOURDVAR_STEP_MS = 0.0017
SQRT_MEMBER2_MS = 4.6e-3  # enkf_sqrt's N x N algebra: 0.30 ms at N 10, 46 at N 100, 147 at N 200
IENKS_ITERATIONS = 10  # each iterates the window's forecast: 0.63 ms at N 10 lag 1, 1.14 at lag 5, 3.8 at every 200
IENKS_ALGEBRA = 22  # ienks' N x N algebra in units of enkf_sqrt's: 1087 ms a cycle at N 100


# Lorenz-96 (40 variables): a member step costs about 40/3 of Lorenz-63's once vectorised; the LETKF
# adds one N x N ETKF per batch of 2 variables (sakov2008's: 20 batches).
LETKF_BATCH_MS = 0.02


def cycle_ms(method: str, n_members: int, lag: int, obs_every: int, n_variables: int = 3) -> float:
    """Estimated ms per cycle of `method` (python -m core cycle) with these flags. The model steps grow
    with the state's size (Lorenz-96's 40 against Lorenz-63's 3); the N x N algebra does not."""
    step_ms = MEMBER_STEP_MS * max(n_variables / 3.0, 1.0)
    forecast = step_ms * n_members * obs_every
    algebra = SQRT_MEMBER2_MS * max(n_members**2 - 100, 0)  # eigh + rotation, ~N^2 at these sizes
    if method == "letkf":
        batches = n_variables / (2 if n_variables % 2 == 0 else 1)
        return 0.3 + forecast + batches * LETKF_BATCH_MS * max(n_members / 10, 1) ** 3
    if method in CYCLE_FIXED_MS:
        return CYCLE_FIXED_MS[method] + step_ms * obs_every
    if method == "strong_4dvar":
        return 0.05 + FOURDVAR_STEP_MS * lag * obs_every * max(n_variables / 3.0, 1.0)
    if method == "enkf_perturbed":
        return 0.02 + forecast
    if method == "enkf_sqrt":
        return 0.3 + forecast + algebra
    return IENKS_ITERATIONS * (0.03 + forecast * lag) + 0.3 + IENKS_ALGEBRA * algebra  # ienks


def cycle_seconds(methods, n_cycles: int, obs_every: int, n_members: int, lag: int, n_variables: int = 3) -> float:
    """Estimated seconds of `python -m core cycle` (every method compiled, then run 4 times)."""
    return sum(
        CYCLE_COMPILE_S + CYCLE_RUNS * n_cycles * cycle_ms(m, n_members, lag, obs_every, n_variables) / 1e3
        for m in methods
    )


def cycle_flags_to_lower(methods) -> str:
    flags = ["--n-cycles"]
    if any(m in ("enkf_sqrt", "enkf_perturbed", "ienks", "letkf") for m in methods):
        flags.append("--ensemble-size")
    if any(m in ("strong_4dvar", "ienks") for m in methods):
        flags.append("--lag")
    flags.append("--obs-every")
    return ", ".join(flags[:-1]) + " or " + flags[-1]


# ---- window problems (reproduce, evaluate, bench, windows, sweep): ms per problem of a batched
# analysis (64 problems) at 50 and 300 steps (fit: ms at 50 x (T / 50) ** power); single calls
# cost ~10x more a problem; a method's first call at a new length compiles (5-12 s measured).
PROBLEM_MS = {  # (ms at 50 steps, power): measured at 50 and 300 steps
    "gauss-newton": (0.10, 0.5),  # 0.100, 0.115
    "bfgs": (0.37, 2.2),  # 0.37, 19.3
    "quasi-static": (0.25, 1.6),  # 0.25, 4.0
    "fourdvarnet": (3.4, 0.5),  # 3.4, 5.9
}
WINDOW_COMPILE_S = 6.0  # the two FourDVarNets share theirs; `windows` at its defaults: ~6 minutes (docs)
SINGLE_CALL_FACTOR = 10.0
WINDOWS_METHODS = ("gauss-newton", "bfgs", "quasi-static", "fourdvarnet", "fourdvarnet")  # + the long-window model
LANDSCAPE_TIMINGS_S = 30.0


# Lorenz-96 (n = 40) over Lorenz-63 per problem, batched, 50-step windows, both in one process, medians
# of 3 alternated rounds (load 6-7): Gauss-Newton 5.9 / 0.15 ms, quasi-static 257 / 0.13 (its stages
# iterate up to the cap), BFGS 313 / 2.7, FourDVarNet 6.1 / 1.0. Other sizes: as (n / 40)^2 (n
# derivative directions of n-variable steps), an assumption, not measured.
LORENZ96_SCALE = {"gauss-newton": 38.0, "quasi-static": 1900.0, "bfgs": 118.0, "fourdvarnet": 6.1}


def problem_ms(method: str, window: int, n_variables: int = 3) -> float:
    """Estimated ms per problem of `method`'s batched analysis on `window`-step windows."""
    at_50, power = PROBLEM_MS[method]
    scale = 1.0 if n_variables == 3 else LORENZ96_SCALE[method] * (n_variables / 40) ** 2
    return at_50 * (window / 50) ** power * scale


def windows_seconds(n_problems: int, windows, timing: bool, n_variables: int = 3) -> float:
    """Estimated seconds of `python -m core windows`: 3 4DVar solvers and 2 FourDVarNets a window,
    each on the batch once, and with timings 4 more batches, 8 warm-up and 17+ timed single calls."""
    seconds = LANDSCAPE_TIMINGS_S if timing else 0.0
    for window in windows:
        for method in WINDOWS_METHODS:
            if n_variables != 3 and method == "fourdvarnet":
                continue  # the FourDVarNets are Lorenz-63's: left out
            batch_s = n_problems * problem_ms(method, window, n_variables) / 1e3
            seconds += WINDOW_COMPILE_S + batch_s
            if timing:
                single_s = SINGLE_CALL_FACTOR * problem_ms(method, window, n_variables) / 1e3
                seconds += WINDOW_COMPILE_S + 4 * batch_s + 25 * single_s + 0.5
    return seconds


def evaluate_seconds(n_problems: int, window: int, n_variables: int = 3) -> float:
    """Estimated seconds of `python -m core evaluate`: the model and strong 4DVar on the test set."""
    solver = "gauss-newton" if window <= 50 else "quasi-static"
    per_problem = problem_ms(solver, window, n_variables) + problem_ms("fourdvarnet", window, n_variables)
    return 2 * WINDOW_COMPILE_S + n_problems * per_problem / 1e3


def reproduce_seconds(n_problems: int, window: int, retrain: bool, n_variables: int = 3) -> float:
    """Estimated seconds of `python -m core reproduce` (every registered method, + training if asked)."""
    per_problem = sum(problem_ms(m, window, n_variables) for m in PROBLEM_MS) + problem_ms(
        "fourdvarnet", window, n_variables
    )
    seconds = 6 * WINDOW_COMPILE_S + n_problems * per_problem / 1e3  # + the reference FourDVarNet and OI
    if retrain:
        seconds += train_seconds(600, 64, (window,), None, False)
    return seconds + train_seconds(200, 32, (50,), None, True)  # the reference model, trained as the notebook did


def bench_seconds(batch_size: int, window: int, n_variables: int = 3) -> float:
    """Estimated seconds of `python -m core bench`: each method timed on a batch (3+ calls) and alone."""
    methods = ("gauss-newton", "bfgs", "quasi-static", "fourdvarnet")
    per_problem = sum(problem_ms(m, window, n_variables) for m in methods if n_variables != 3 or m != "quasi-static")
    return 60.0 + 4 * batch_size * per_problem / 1e3 + train_seconds(200, 32, (50,), None, True)


# ---- training, from the shipped models' headers (train_time_s): 3000 steps x 128 problems at 50-step
# windows in 136 s (0.35 ms a problem and step); 3000 x 64 on windows up to 300 steps in 1703 s (8.9 ms).
TRAIN_OVERHEAD_S = 15.0
TRAIN_PROBLEM_STEP_S = 0.5e-3  # at 50-step windows
TRAIN_WINDOW_POWER = 2.0  # a mix's windows take turns; the long one's mean (T / 50) ** 2 is 14 (measured ~25)
REFERENCE_SHARE = 0.3  # the reference architecture trains ~3x cheaper (200 x 32 in ~2-3 s after compile)


def train_seconds(steps: int, batch_size: int, windows, hidden_dim: int | None, reference: bool) -> float:
    """Estimated seconds of a training (`python -m core train`, the sweep's models)."""
    length = sum((w / 50) ** TRAIN_WINDOW_POWER for w in windows) / len(windows)
    width = 1.0 if hidden_dim is None else max(hidden_dim / 32, 0.25) ** 2
    rate = TRAIN_PROBLEM_STEP_S * length * (REFERENCE_SHARE if reference else width)
    return TRAIN_OVERHEAD_S + steps * batch_size * rate


def sweep_seconds(plan, steps_to_train, workers: int | None) -> float:
    """Estimated seconds of `python -m core sweep`: the models not shipped trained (64 problems a
    step, shared among `workers`), then every model and strong 4DVar on each test setting."""
    training = sum(train_seconds(steps, 64, (50,), None, False) for steps in steps_to_train) / (workers or 1)
    settings = len(plan.test_densities) + len(plan.test_noises) + len(plan.test_components)
    per_problem = problem_ms("gauss-newton", plan.window) + 6 * problem_ms("fourdvarnet", plan.window)
    per_setting = plan.n_problems * per_problem
    return training + settings * (2.0 + per_setting / 1e3)


def duration(seconds: float) -> str:
    """`seconds` in words at the scale that reads best (estimates: two significant figures at most)."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 1.5 * size:
            return f"{seconds / size:.2g} {unit}" if seconds < 100 * size else f"{seconds / size:,.0f} {unit}"
    return f"{seconds:.0f} seconds"


def check_budget(command: str, seconds: float, lower: str, allow_long: bool) -> None:
    """Refuse, in one line, a run estimated past `BUDGET_S`, naming the flags to lower (unless
    `allow_long`); a run that should take over `NOTE_S` says so on stderr before it starts. On an
    accelerator (the rates are CPU figures) a run past the budget is said, not refused.

    Raises:
        CliError: the estimate is over the budget and `allow_long` is false.
    """
    import sys

    from core.cli.arguments import CliError

    about = f"about {duration(seconds)} with these flags (estimated"
    if seconds > BUDGET_S and not allow_long:
        import jax

        if jax.default_backend() != "cpu":  # the rates are the CPU's: said, not enforced, on an accelerator
            print(f"note: `python -m core {command}` would take {about} for 2 CPU cores)", file=sys.stderr, flush=True)
            return
        raise CliError(
            f"`python -m core {command}` would take {about}; the budget is {BUDGET_S / 60:g} minutes): "
            f"lower {lower}, or pass --allow-long to run it anyway"
        )
    if seconds > NOTE_S:
        print(f"note: `python -m core {command}` should take {about}); Ctrl-C stops it", file=sys.stderr, flush=True)
