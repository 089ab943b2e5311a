"""The window commands' --system and model-error flags: foreign flags refused in one line naming the
flag before any work, accepted ones reaching the work as `generate_problem`'s keywords, and the JSON
saying the system and the gap."""

import json

import pytest
from support import replace_cli_work

from core.cli.main import main

SHIPPED = "assets/models/fourdvarnet_attractor_every5.eqx"


class WorkStarted(Exception):
    pass


@pytest.fixture
def recorded(monkeypatch):
    """Every subcommand's work records its arguments and raises `WorkStarted` instead of running."""
    calls = []

    def started(*args, **kwargs):
        calls.append((args, kwargs))
        raise WorkStarted

    replace_cli_work(monkeypatch, started)
    return calls


def one_line_refusal(argv, capsys) -> str:
    try:
        code = main(argv)
    except WorkStarted:
        pytest.fail(f"the work started: {argv}")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:"), err
    return err[0]


COMMANDS = {
    "reproduce": ["reproduce"],
    "evaluate": ["evaluate", "--model", SHIPPED],
    "windows": ["windows"],
    "bench": ["bench"],
    "train": ["train", "--out", "MODEL"],
    "sweep": ["sweep"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--system", "lorenz96", "--model-rho", "26"], "--model-rho applies to --system lorenz63 only"),
        (["--model-forcing", "7"], "--model-forcing applies to --system lorenz96 only"),
        (["--forcing", "7"], "--forcing applies to --system lorenz96 only"),
        (["--n-variables", "20"], "--n-variables applies to --system lorenz96 only"),
        (["--system", "lorenz96", "--obs-spacing", "41"], "--obs-spacing must be between 1 and 40"),
        (["--system", "lorenz84"], "--system"),
        (["--model-noise", "-1"], "--model-noise must be a number between 0 and 100"),
        (["--model-rho", "0"], "--model-rho must be a number between 0.5 and 100"),
        (["--observed-share", "0"], "--observed-share must be a number between 0.01 and 1"),
    ],
)
def test_foreign_or_bad_system_flags_are_refused_before_any_work(command, flags, needle, tmp_path, capsys, recorded):
    argv = [str(tmp_path / "m.eqx") if a == "MODEL" else a for a in COMMANDS[command]] + flags
    assert needle in one_line_refusal(argv, capsys)
    assert recorded == []


def test_lorenz96_refuses_the_seed_preset_and_xyz(capsys, recorded):
    line = one_line_refusal(["reproduce", "--system", "lorenz96", "--preset", "seed"], capsys)
    assert "--preset seed" in line and "attractor" in line
    line = one_line_refusal(["reproduce", "--system", "lorenz96", "--observed", "xz"], capsys)
    assert "--observed" in line and "--obs-spacing" in line


def _reaches(argv, calls):
    with pytest.raises(WorkStarted):
        main(argv)
    return calls[-1][1]


def test_the_flags_reach_every_command_as_problem_settings(tmp_path, recorded):
    lorenz96 = ["--system", "lorenz96", "--forcing", "9", "--model-forcing", "7.5", "--model-noise", "0.2"]
    expected = {
        "system": "lorenz96",
        "dt": 0.05,
        "n_variables": 12,
        "forcing": 9.0,
        "model_forcing": 7.5,
        "model_noise": 0.2,
        "observed_share": 0.5,
    }
    sized = [*lorenz96, "--n-variables", "12", "--observed-share", "0.5", "--allow-long"]
    for command in (["reproduce"], ["windows"], ["bench"]):
        kwargs = _reaches([*command, *sized], recorded)
        assert kwargs["system_settings"] == expected, command
    kwargs = _reaches(["reproduce", *sized], recorded)
    assert kwargs["preset"] == "attractor" and kwargs["observed"] is None
    kwargs = _reaches(["evaluate", "--model", SHIPPED, "--model-rho", "26", "--model-noise", "1"], recorded)
    assert kwargs["system_settings"] == {"system": "lorenz63", "dt": 0.01, "model_rho": 26.0, "model_noise": 1.0}
    assert kwargs["observed"] == (0, 1, 2)
    # train: the config carries the system and the mismatch (and every 2nd of 12 variables observed).
    train = ["train", "--out", str(tmp_path / "m.eqx"), "--steps", "1", *lorenz96, "--n-variables", "12"]
    with pytest.raises(WorkStarted):
        main([*train, "--obs-spacing", "2"])
    config = recorded[-1][0][0]  # fit(config, ...)
    assert (config.system, config.n_variables, config.forcing, config.model_forcing, config.model_noise) == (
        "lorenz96",
        12,
        9.0,
        7.5,
        0.2,
    )
    assert config.observed == (tuple(range(0, 12, 2)),)
    # sweep: Lorenz-63's mismatch reaches its plan.
    with pytest.raises(WorkStarted):
        main(["sweep", "--quick", "--model-rho", "26"])
    plan = recorded[-1][0][0]
    assert plan.mismatch == {"model_rho": 26.0}
    assert all(c.model_rho == 26.0 for c in plan.configs().values())


@pytest.mark.ci  # ~30 s: three 4DVar solvers compile for Lorenz-96
def test_a_lorenz96_run_says_its_system_and_gap_in_json(capsys):
    argv = ["windows", "--system", "lorenz96", "--model-forcing", "7", "--n-variables", "8"]
    code = main([*argv, "--n-problems", "2", "--windows", "10", "--no-timing", "--json"])
    assert code == 0
    setup = json.loads(capsys.readouterr().out)["setup"]
    assert setup["system"] == "lorenz96" and setup["n_variables"] == 8
    assert setup["truth_parameters"] == {"forcing": 8.0} and setup["model_parameters"] == {"forcing": 7.0}
    assert setup["model_noise"] == 0.0


def test_the_budget_knows_lorenz96_is_dearer(capsys, recorded):
    # The same flags: Lorenz-63's table fits the budget (it reaches the work), Lorenz-96's 40 variables do not.
    with pytest.raises(WorkStarted):
        main(["windows"])
    capsys.readouterr()
    line = one_line_refusal(["windows", "--system", "lorenz96"], capsys)
    assert "would take about" in line and "--allow-long" in line
