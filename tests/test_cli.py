"""The CLI's error paths: one clear line naming the parameter, non-zero exit, no traceback."""

import json
import subprocess
import sys

import pytest

from core.cli import main


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["reproduce", "--obs-every", "0"], "obs_every"),
        (["reproduce", "--obs-every", "60"], "obs_every"),
        (["reproduce", "--obs-noise", "-1"], "obs_noise"),
        (["reproduce", "--n-problems", "-3"], "--n-problems"),
        (["train", "--steps", "-5", "--out", "{tmp}/m.eqx"], "--steps"),
        (["train", "--obs-every", "0", "--out", "{tmp}/m.eqx"], "obs_every"),
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


def test_unknown_preset_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--preset", "butterfly"])
    assert exit_info.value.code == 2
    assert "--preset" in capsys.readouterr().err


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


def test_help_explains_every_subcommand():
    for command in ("reproduce", "train", "evaluate", "bench"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0


def test_train_then_evaluate_round_trip(tmp_path, capsys):
    out = tmp_path / "m.eqx"
    assert main(["train", "--steps", "2", "--batch-size", "4", "--hidden-dim", "4", "--out", str(out)]) == 0
    assert main(["evaluate", "--model", str(out), "--n-problems", "4", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out.split("\n", 1)[1])  # after train's "saved ..." line
    assert payload["test"]["n_problems"] == 4
    assert payload["strong_4dvar_stats"]["rmse_assim"]["median"] < payload["model_stats"]["rmse_assim"]["median"]
