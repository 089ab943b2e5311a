"""The command line refuses every bad value before any work: exit status 2, one line naming the flag
as typed and its range; and no run whose estimate is past the budget starts without --allow-long.

"No work" is shown by replacing every subcommand's work function with one that raises `WorkStarted`:
a refusal returns 2 without reaching it; an accepted call reaches it (and stops there, so the
accepted README-sized runs cost nothing here).
"""

import argparse
import math
import re
from pathlib import Path

import jax
import numpy as np
import pytest
from support import replace_cli_work

import core.cli.cycle
import core.io.resources
import core.nets.training
import core.studies.bench
import core.studies.reproduce
import core.studies.sweep
import core.studies.windows
from core.cli.arguments import KEY, Checked
from core.cli.main import build_parser, main

SHIPPED = "assets/models/fourdvarnet_attractor_every5.eqx"
HUGE = "1208925819614629174706176"  # 2**80: the issue's --key


class WorkStarted(Exception):
    pass


@pytest.fixture
def no_work(monkeypatch):
    """Every subcommand's work raises `WorkStarted` instead of running."""

    def started(*args, **kwargs):
        raise WorkStarted

    replace_cli_work(monkeypatch, started)


def refusal(argv, capsys) -> str:
    """The one line a refused call prints (asserting status 2, one line, and that no work started)."""
    try:
        code = main(argv)
    except WorkStarted:
        pytest.fail(f"the work started: {argv}")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error:"), err
    return err[0]


def accepted(argv, capsys) -> str:
    """What an accepted call prints on stderr before its work starts."""
    with pytest.raises(WorkStarted):
        main(argv)
    err = capsys.readouterr().err
    assert "error" not in err
    return err


# The issue's probes, and others of the same kinds: (argv, the flag as typed, the range it must state).
ISSUE_PROBES = [
    (["windows", "--key", HUGE], "--key", "between 0 and 4294967294"),
    (["windows", "--windows", ",".join(["25"] * 1000)], "--windows", "up to 10 distinct whole numbers"),
    (["windows", "--windows", "25,25"], "--windows", "got 25 more than once"),
    (["windows", "--windows", ",".join(["25"] * 100_000)], "--windows", "got 100000 values"),  # counted, not read
    (["reproduce", "--window", "1"], "--window", "between 10 and 300"),
    (["reproduce", "--obs-noise", "0"], "--obs-noise", "between 0.01 and 100"),
    (["cycle", "--method", "oi", "--obs-noise", "0"], "--obs-noise", "between 0.01 and 100"),
    (["reproduce", "--window", "20", "--obs-every", "30"], "--obs-every", "between 1 and 20 (at most --window)"),
    (["train", "--window", "10", "--obs-every", "30", "--out", "{tmp}/m.eqx"], "--obs-every", "between 1 and 10"),
    (["evaluate", "--model", SHIPPED, "--key", "-1"], "--key", "between 0 and 4294967294"),
    (["train", "--seed", "4294967295", "--out", "{tmp}/m.eqx"], "--seed", "between 0 and 4294967294"),
    (["cycle", "--method", "oi", "--key", "4294967295"], "--key", "between 0 and 4294967294"),
    (["train", "--obs-noise", "0.5,0.5", "--out", "{tmp}/m.eqx"], "--obs-noise", "more than once"),
    (["train", "--window", "50,,100", "--out", "{tmp}/m.eqx"], "--window", "between 10 and 300"),
    (["cycle", "--method", "oi", "--n-cycles", "20", "--burn-in", "15"], "--burn-in", "between 0 and --n-cycles - 6"),
    (["cycle", "--method", "oi", "--lag", "1e400"], "--lag", "between 1 and 50"),
    (["evaluate", "--model", SHIPPED, "--n-steps", "2.5"], "--n-steps", "between 0 and 100"),
]


@pytest.mark.parametrize("argv, flag, allowed", ISSUE_PROBES)
def test_the_issues_values_are_refused_in_one_line_naming_the_flag_and_range(
    tmp_path, capsys, no_work, argv, flag, allowed
):
    line = refusal([a.format(tmp=tmp_path) for a in argv], capsys)
    assert line.startswith(f"error: {flag} must be") and allowed in line, line
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["sweep", "--retrain", "--workers", "256"], "--workers 256 would need about"),  # a process each
        (["windows", "--n-problems", "100000"], "--n-problems"),  # memory or time, by the machine
        (["train", "--observed", "xyz", "xyz", "--out", "{tmp}/m.eqx"], "--observed lists a choice twice"),
        (["cycle", "--method", "nope"], "--method: invalid choice: 'nope'"),
        (["cycle", "--method", "oi", "--method", "oi"], "--method lists a method twice"),
        (["cycle", "--method", "fourdvarnet", "--obs-every", "5"], "--obs-every must be 25 with --method fourdvarnet"),
        (["train", "--reference", "--window", "100", "--out", "{tmp}/m.eqx"], "--window"),
    ],
)
def test_flags_checked_together_are_refused_before_any_work(tmp_path, capsys, no_work, argv, needle):
    line = refusal([a.format(tmp=tmp_path) for a in argv], capsys)
    assert needle in line, line


def _checked_flags():
    """(subcommand, flag, quantity) for every flag of every subcommand checked as it is read."""
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command, parser in subparsers.choices.items():
        for action in parser._actions:
            if isinstance(action, Checked):
                yield command, action.option_strings[0], action.quantity


REQUIRED = {"train": ["--out", "{tmp}/m.eqx"], "evaluate": ["--model", SHIPPED], "cycle": ["--method", "oi"]}
BAD_VALUES = [HUGE, f"-{HUGE}", "nan", "inf", "-inf", "", "x", "1e400"]  # given as --flag=VALUE ("-inf" is no flag)


@pytest.mark.parametrize("command, flag, quantity", list(_checked_flags()))
def test_every_numeric_flag_refuses_huge_negative_nonfinite_and_empty_values(
    tmp_path, capsys, no_work, command, flag, quantity
):
    for value in [*BAD_VALUES, str(quantity.high + 1), str(quantity.low - 1)]:
        argv = [command, *[a.format(tmp=tmp_path) for a in REQUIRED.get(command, [])], f"{flag}={value}"]
        line = refusal(argv, capsys)
        assert line.startswith(f"error: {flag} must be") and quantity.between() in line, line


def test_every_value_taking_flag_is_checked_as_it_is_read():
    """A new numeric flag cannot skip the checks: each flag that takes a value is checked, has
    choices, or is one of these (paths, an address, components: checked by their own functions)."""
    others = {"--out", "--model", "--init", "--save-dir", "--scheduler", "--observed"}
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command, parser in subparsers.choices.items():
        for action in parser._actions:
            takes_value = action.nargs != 0 and action.option_strings and action.dest != "help"
            if takes_value and not isinstance(action, Checked) and action.choices is None:
                assert action.option_strings[0] in others, (command, action.option_strings)


def test_one_quantity_states_one_range_in_every_subcommand(tmp_path, capsys, no_work):
    noise = [
        refusal([*prefix, "--obs-noise", "0.001"], capsys)
        for prefix in (
            ["reproduce"],
            ["evaluate", "--model", SHIPPED],
            ["train", "--out", str(tmp_path / "m.eqx")],
            ["cycle", "--method", "oi"],
        )
    ]
    assert {re.search(r"between \S+ and [^;]+", line)[0] for line in noise} == {"between 0.01 and 100"}, noise
    keys = [
        refusal([*prefix, "4294967295"], capsys)
        for prefix in (
            ["reproduce", "--key"],
            ["evaluate", "--model", SHIPPED, "--key"],
            ["windows", "--key"],
            ["cycle", "--method", "oi", "--key"],
            ["train", "--out", str(tmp_path / "m.eqx"), "--seed"],
        )
    ]
    assert {re.search(r"between \S+ and [^;]+", line)[0] for line in keys} == {"between 0 and 4294967294"}, keys


def test_the_highest_key_and_the_key_after_it_are_distinct_prng_seeds():
    """Runs seed with key + 1 (the cycle's methods, training's data): at the top of the range that is
    still a uint32 seed of its own, not a wrapped-around key 0."""
    top = jax.random.PRNGKey(KEY.high + 1)
    assert not np.array_equal(top, jax.random.PRNGKey(0))
    assert not np.array_equal(top, jax.random.PRNGKey(KEY.high))


# The issue's long runs: within every flag's range, past the budget by their own estimate.
LONG_RUNS = [
    (["cycle", "--method", "ienks", "--ensemble-size", "1000", "--lag", "50", "--n-cycles", "1000000"], "--n-cycles"),
    (
        ["cycle", "--method", "enkf_sqrt", "--ensemble-size", "1000", "--lag", "50", "--n-cycles", "1000000"],
        "--n-cycles",
    ),
    (["cycle", "--method", "strong_4dvar", "--lag", "50", "--obs-every", "1000", "--n-cycles", "5001"], "--n-cycles"),
    (["windows", "--n-problems", "5000"], "--n-problems"),  # 1.5 GB: within the memory check
    (["train", "--steps", "1000000", "--out", "{tmp}/m.eqx"], "--steps"),
    (["sweep", "--retrain"], "--steps"),
]


@pytest.mark.parametrize("argv, flag", LONG_RUNS)
def test_a_run_past_the_budget_is_refused_with_its_estimate_and_the_flag_to_lower(
    tmp_path, capsys, no_work, argv, flag
):
    argv = [a.format(tmp=tmp_path) for a in argv]
    line = refusal(argv, capsys)
    assert "would take about" in line and "the budget is 10 minutes" in line, line
    assert f"lower {flag}" in line and "--allow-long" in line, line
    accepted([*argv, "--allow-long"], capsys)  # the user may still ask for it


def test_a_run_within_the_budget_but_long_says_how_long_before_it_starts(capsys, no_work):
    """The issue's 4DVar run (lag 50, obs every 1000, 1001 cycles): ~3 minutes of cycling measured
    here, estimated ~6: within the budget, so it runs, after one line saying how long."""
    err = accepted(["cycle", "--method", "strong_4dvar", "--lag", "50", "--obs-every", "1000"], capsys)
    assert err.startswith("note: `python -m core cycle` should take about") and "minutes" in err, err
    assert "Ctrl-C" in err and len(err.strip().splitlines()) == 1


def test_on_an_accelerator_the_cpu_estimate_is_said_not_enforced(capsys, no_work, monkeypatch):
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(core.io.resources, "available_memory_bytes", lambda: 128e9)  # an H200 machine's
    err = accepted(["bench", "--json", "--batch-size", "65536"], capsys)  # the README's H200 run
    assert err.startswith("note: `python -m core bench` would take about") and "for 2 CPU cores" in err, err


def documented_commands():
    """Every `python -m core ...` command in the README's and docs' code blocks and code spans
    (tables' synopses with [optional] parts left out), its placeholders filled in."""
    found = []
    for path in [Path("README.md"), *sorted(Path("docs").glob("*.md"))]:
        text = path.read_text().replace("\\\n", " ")
        lines = [line for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S) for line in block.splitlines()]
        found += [re.sub(r"\s+#.*|\s*>.*", "", line) for line in lines]
        found += [s for s in re.findall(r"`(python3? -m core [^`]*)`", text.replace("\n", " ")) if "[" not in s]
    commands = []
    for text in found:
        argv = text.split()
        if argv[:3] not in (["python", "-m", "core"], ["python3", "-m", "core"]) or argv[3:4] in ([], ["--help"]):
            continue
        argv = [{"K": "0", "m.eqx": SHIPPED}.get(a, a) for a in argv[3:]]
        if argv[0] == "train":
            argv = [a if a != SHIPPED else "{tmp}/m.eqx" for a in argv]
        if (argv[0], len(argv)) not in (("evaluate", 1), ("cycle", 1)) and argv not in commands:
            commands.append(argv)  # (bare `evaluate` and `cycle` are mentions, not runs)
    return commands


@pytest.mark.parametrize("argv", documented_commands(), ids=" ".join)
def test_every_documented_command_is_accepted(tmp_path, capsys, no_work, monkeypatch, argv):
    if "65536" in argv:  # the README's H200 run
        monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
        monkeypatch.setattr(core.io.resources, "available_memory_bytes", lambda: 128e9)
    accepted([a.format(tmp=tmp_path) for a in argv], capsys)


# The defaults and the README's / docs' commands are within the budget.
README_RUNS = [
    ["reproduce"],
    ["reproduce", "--preset", "attractor", "--key", "42", "--n-problems", "256"],
    ["train", "--steps", "600", "--out", "{tmp}/m.eqx"],
    [
        "train",
        "--preset",
        "attractor",
        "--obs-every",
        "5",
        "--steps",
        "3000",
        "--batch-size",
        "128",
        "--out",
        "{tmp}/m",
    ],
    ["evaluate", "--model", SHIPPED, "--n-problems", "256"],
    ["evaluate", "--model", SHIPPED, "--window", "200", "--obs-every", "8", "--obs-noise", "1.4142"],
    ["sweep", "--n-problems", "256"],
    ["sweep", "--quick", "--retrain"],
    ["bench"],
    ["bench", "--window", "200"],
    ["windows"],
    ["windows", "--windows", "200", "--json"],
    ["cycle", "--method", "oi"],
    ["cycle", "--method", "oi", "--method", "var3d", "--method", "strong_4dvar", "--method", "enkf_sqrt"]
    + ["--method", "enkf_perturbed", "--method", "ienks", "--n-cycles", "5001", "--key", "0", "--json"],
    ["cycle", "--method", "fourdvarnet", "--method", "strong_4dvar", "--method", "ienks", "--method", "enkf_sqrt"]
    + ["--n-cycles", "5001", "--key", "1"],
    [
        "cycle",
        "--method",
        "ienks",
        "--method",
        "enkf_sqrt",
        "--obs-noise",
        "1",
        "--obs-every",
        "5",
        "--n-cycles",
        "5001",
    ],
    ["cycle", "--method", "oi", "--key", str(KEY.high), "--obs-noise", str(math.sqrt(2))],
]


@pytest.mark.parametrize("argv", README_RUNS, ids=lambda argv: " ".join(argv[:3]))
def test_the_defaults_and_the_readme_runs_are_accepted(tmp_path, capsys, no_work, argv):
    accepted([a.format(tmp=tmp_path) for a in argv], capsys)
