"""The CLI's error paths: one clear line naming the parameter, non-zero exit, no traceback."""

import json
import subprocess
import sys

import pytest
from support import replace_cli_work

from core.cli.main import main


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["reproduce", "--obs-every", "0"], "--obs-every"),
        (["reproduce", "--obs-every", "60"], "--obs-every"),
        (["reproduce", "--obs-noise", "-1"], "--obs-noise"),
        (["reproduce", "--n-problems", "-3"], "--n-problems"),
        (["train", "--steps", "-5", "--out", "{tmp}/m.eqx"], "--steps"),
        (["train", "--obs-every", "0", "--out", "{tmp}/m.eqx"], "--obs-every"),
        (["evaluate", "--model", "{tmp}/missing.eqx"], "does not exist"),
        (["evaluate", "--model", "{tmp}/corrupt.eqx"], "not a FourDVarNet model file"),
        (["train", "--out", "{tmp}/exists.eqx"], "--force"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(tmp_path, capsys, argv, needle):
    (tmp_path / "corrupt.eqx").write_bytes(b"garbage")
    (tmp_path / "exists.eqx").write_bytes(b"a user's file")
    code = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and needle in err[0] and err[0].startswith("error:")
    assert (tmp_path / "exists.eqx").read_bytes() == b"a user's file"


def test_unknown_preset_is_refused_by_argparse_in_one_line(capsys):
    assert main(["reproduce", "--preset", "butterfly"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--preset" in err[0]  # not the usage text


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_work(monkeypatch):
    """Any training, benchmark, sweep or evaluation started fails the test: the CLI must refuse first."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the work started before the arguments were checked")

    replace_cli_work(monkeypatch, forbidden)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "--seed", "99999999999999999999", "--out", "{tmp}/m.eqx"], "--seed"),
        (["reproduce", "--key", "99999999999999999999"], "--key"),
        (["evaluate", "--model", "{tmp}/m.eqx", "--key", "-99999999999999999999"], "--key"),
        (["train", "--out", "{tmp}", "--force"], "is a directory"),
        (["train", "--out", "{tmp}/afile/m.eqx"], "is a file, not a folder"),
        (["train", "--out", "/proc/x.eqx"], "cannot write in /proc"),
        (["train", "--batch-size", "100000", "--out", "{tmp}/m.eqx"], "--batch-size 100000 would need"),
        (["train", "--learning-rate", "5", "--out", "{tmp}/m.eqx"], "--learning-rate"),
        (["train", "--obs-noise", "0.5,-2", "--out", "{tmp}/m.eqx"], "--obs-noise"),
        (["bench", "--batch-size", "1000000"], "--batch-size 1000000 would need"),
        (["bench", "--batch-size", "10000000"], "--batch-size must be a whole number between 1 and 1000000"),
        (["sweep", "--retrain", "--save-dir", "/proc/nope"], "--save-dir /proc/nope"),
        (["sweep", "--save-dir", "{tmp}/afile/sub"], "--save-dir"),
        (["sweep", "--scheduler", "tcp://127.0.0.1:{port}"], "no Dask scheduler answers"),
        (["sweep", "--scheduler", "not an address"], "tcp://HOST:PORT"),
        (["evaluate", "--model", "{tmp}/m.eqx", "--n-steps", "-1"], "--n-steps"),
    ],
)
def test_every_output_size_and_key_is_checked_before_any_work(tmp_path, capsys, no_work, argv, needle):
    (tmp_path / "afile").write_bytes(b"a file where a folder is expected")
    port = _free_port()  # nothing listens there
    code = main([a.format(tmp=tmp_path, port=port) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing written, no stray .tmp


def test_a_real_process_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "core", "evaluate", "--model", str(tmp_path / "nope.eqx")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: model file {str(tmp_path / 'nope.eqx')!r} does not exist"


def test_help_explains_every_subcommand(capsys):
    for command in ("reproduce", "train", "evaluate", "sweep", "windows", "bench", "cycle"):
        assert main([command, "--help"]) == 0
        assert "--allow-long" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.ci  # ~20-70 s: outside the README's command, run by CI in a step of its own (.ci/run)
def test_train_then_evaluate_round_trip(tmp_path, capsys):
    out = tmp_path / "m.eqx"
    assert main(["train", "--steps", "2", "--batch-size", "4", "--hidden-dim", "4", "--out", str(out)]) == 0
    assert main(["evaluate", "--model", str(out), "--n-problems", "4", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out.split("\n", 1)[1])  # after train's "saved ..." line
    assert payload["test"]["n_problems"] == 4
    assert payload["strong_4dvar_stats"]["rmse_assim"]["median"] < payload["model_stats"]["rmse_assim"]["median"]


def test_the_old_entry_point_stays_an_alias_of_the_new():
    """The distribution follows the systems (`learned-da`); scripts written for `l63-da` keep working."""
    import tomllib
    from pathlib import Path

    scripts = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["l63-da"] == scripts["learned-da"] == "core.cli.main:main"
