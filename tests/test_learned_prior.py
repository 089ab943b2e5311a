"""The shipped FourDVarNet with a learned prior (core/nets/learned_prior.py): built for the model-error
study's set-up, blind to the methods' model, and better than the free run on that set-up's windows."""

import jax
import numpy as np
import pytest

from core.da.method import analyse_batch
from core.methods.baseline import FreeRun, OptimalInterpolation
from core.methods.learned import ReferenceFourDVarNetMethod, learned_method
from core.nets.fourdvarnet_reference import FourDVarNet1D
from core.nets.learned_prior import LEARNED_PRIOR_PATH, learned_prior_config
from core.nets.model_files import config_of, load_model
from core.setups.problems import generate_problems
from core.studies.model_error import SETUPS
from core.studies.windows import window_rmse

SETUP = SETUPS["lorenz63"]


def test_its_training_set_up_is_the_studys():
    problem, config = SETUP["problem"], learned_prior_config()
    assert config.T_assim == (problem["T_assim"],) and config.hyperparameters["n_time"] == problem["T_assim"] + 1
    assert config.obs_every == (problem["obs_every"],) and config.obs_noise == (pytest.approx(problem["obs_noise"]),)
    # Truths of the true system; the architecture's cost has no ODE model to give a rho to.
    assert config.model_rho is None and SETUP["truth"] == {"rho": 28.0}


@pytest.fixture(scope="module")
def shipped():
    if not LEARNED_PRIOR_PATH.exists():
        pytest.skip(f"{LEARNED_PRIOR_PATH} is not built (bash assets/models/make_models.sh)")
    model, header = load_model(LEARNED_PRIOR_PATH, architecture="fourdvarnet_reference")
    return model, header


def test_the_shipped_file_is_what_its_name_says(shipped):
    model, header = shipped
    assert isinstance(model, FourDVarNet1D) and isinstance(learned_method(model), ReferenceFourDVarNetMethod)
    config, expected = config_of(header), learned_prior_config()
    for field in ("architecture", "preset", "T_assim", "obs_every", "obs_noise", "observed", "hyperparameters"):
        assert getattr(config, field) == getattr(expected, field), field
    assert config.model_rho is None and config.model_noise == 0.0
    # Its training fit: the final full-batch MSE is a small part of the first (the initial net outputs ~0).
    assert header["info"]["final_loss"] < 0.2 * header["info"]["first_loss"]


@pytest.mark.ci  # 16 s at load 6 on 2 cores: three methods compile for 8 problems
def test_its_analysis_beats_the_free_run_and_ignores_the_methods_model(shipped):
    model, _ = shipped
    key = jax.random.fold_in(jax.random.PRNGKey(2026), 1)  # the study's test problems (a handful)
    wrong = generate_problems(key, 8, **SETUP["problem"], **SETUP["mismatch"])
    right = generate_problems(key, 8, **SETUP["problem"])  # the same truths and observations, rho 28
    method = ReferenceFourDVarNetMethod(model)
    analysis = analyse_batch(method, wrong).window
    # It reads the observations and their mask only: the methods' rho cannot change its answer.
    np.testing.assert_array_equal(np.asarray(analysis), np.asarray(analyse_batch(method, right).window))
    learned = window_rmse(analysis, wrong)
    free = window_rmse(analyse_batch(FreeRun(), wrong).window, wrong)
    oi = window_rmse(analyse_batch(OptimalInterpolation(), wrong).window, wrong)
    # Independent baselines: the model run from the climatological background, and OI, which falls
    # back to that background between observation times.
    assert np.median(learned) < 0.6 * np.median(free)
    assert np.median(learned) < np.median(oi)


def test_its_command_refuses_bad_input_before_any_work(tmp_path, capsys):
    from core.nets.learned_prior import main

    assert main(["--out", str(tmp_path / "m.eqx"), "--steps", "0"]) == 2
    assert "--steps must be between 1 and 100000" in capsys.readouterr().err
    existing = tmp_path / "there.eqx"
    existing.write_bytes(b"another model")
    assert main(["--out", str(existing)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and existing.read_bytes() == b"another model"
