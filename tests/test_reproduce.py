"""`reproduce` and `bench` end to end: their JSON shape, and the seed-key-42 targets."""

import json

import pytest

import core
from core.cli.main import main, shipped_model_path


@pytest.mark.slow
@pytest.mark.ci  # ~20-70 s: outside the README's command, run by CI in a step of its own (.ci/run)
@pytest.mark.skipif(not shipped_model_path("seed").exists(), reason="needs the shipped seed model")
def test_reproduce_json_on_the_seed_problem(capsys):
    assert main(["reproduce", "--preset", "seed", "--key", "42", "--n-problems", "8", "--json"]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert "loaded our FourDVarNet" in captured.err
    assert payload["preset"] == "seed" and payload["key"] == 42
    assert set(payload["methods"]) == set(core.registered_methods())  # every method, learned ones included
    methods = payload["methods"]
    for result in methods.values():
        assert result["runtime_ms"] > 0
        assert result["batch"]["n_problems"] == 8
        assert (
            result["batch"]["rmse_assim"]["p10"]
            <= result["batch"]["rmse_assim"]["median"]
            <= result["batch"]["rmse_assim"]["p90"]
        )
    # The targets: 4DVar within 0.1 of the reference's 0.051; our FourDVarNet <= 0.5 (reference 6.452).
    assert abs(methods["strong_4dvar"]["rmse_assim"] - 0.051) < 0.1
    assert all(methods[m]["converged"] is True for m in ("strong_4dvar", "strong_4dvar_bfgs", "strong_4dvar_qs"))
    assert methods["fourdvarnet"]["rmse_assim"] <= 0.5
    assert abs(methods["oi"]["rmse_assim"] - 15.110) < 0.02


@pytest.mark.slow
def test_bench_json_has_every_budget(capsys):
    assert main(["bench", "--json", "--batch-size", "256"]) == 0
    payload = json.loads(capsys.readouterr().out)
    for name in ("strong_4dvar_bfgs", "strong_4dvar", "fourdvarnet"):
        assert {"ms_per_problem", "analysis_ms", "ms_per_problem_batch256", "compile_s"} <= set(payload[name])
    assert payload["train_200_steps_s"] > 0
