"""Cycled training as a scheme that `fit` drives: its loss on a fixed batch goes down, `fit` gives the
weights the loop it replaced gave from the same seed, the callback sees every step, the fine-tuning
scheme renews its windows from the model as it is at each round, and bad schemes are refused."""

import math

import equinox as eqx
import jax
import numpy as np
import pytest

import core
import core.nets.cycle_training as cycle_training
from core.nets.cycle_fourdvarnet import WINDOW_STEPS
from core.nets.cycle_training import cycled_config, cycled_training_batch, cycled_window_loss
from core.nets.training import TrainingConfig, build_model, fit, fit_many, optimizer_for

SMALL = {"hidden_dim": 4, "kernel_size": 3}


def _weights(model) -> np.ndarray:
    return np.concatenate([np.ravel(leaf) for leaf in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))])


@pytest.fixture(scope="module")
def cycled_fit():
    """Ten steps of the cycled scheme through `fit`: (config, start, trained, report, steps the callback saw)."""
    config = cycled_config(steps=10, batch_size=8, learning_rate=1e-2, hyperparameters=SMALL, seed=5)
    start = build_model(config)
    seen = []
    trained, report = fit(config, model=start, callback=lambda step, loss: seen.append(step))
    return config, start, trained, report, seen


def test_cycled_scheme_reports_every_step(cycled_fit):
    _, _, _, report, seen = cycled_fit
    assert seen == list(range(1, 11))
    assert len(report.losses) == 10 and report.compile_s > 0 and all(math.isfinite(loss) for loss in report.losses)


def test_one_step_of_the_cycled_scheme_descends_as_its_gradient_predicts(cycled_fit):
    """Adam's first step moves every weight by the learning rate against its gradient's sign, so the
    loss on the step's own batch changes by -rate * |gradient|_1 to first order. Ten steps on fresh
    batches of 8 prove nothing either way: the loss is heavy-tailed and the path chaotic, so its sign
    after ten steps depends on the CPU's rounding."""
    config, start, _, _, _ = cycled_fit
    fixed = cycled_training_batch(jax.random.PRNGKey(99), 32, WINDOW_STEPS, math.sqrt(2.0))
    gradient = eqx.filter_grad(cycled_window_loss)(start, *fixed)
    gradient_l1 = sum(
        float(np.sum(np.abs(leaf))) for leaf in jax.tree_util.tree_leaves(eqx.filter(gradient, eqx.is_array))
    )
    rate = 3e-4
    optimizer = optimizer_for(rate, 1)
    stepped, _, loss = cycle_training._window_step(
        start, optimizer.init(eqx.filter(start, eqx.is_array)), optimizer, *fixed
    )
    before, after = float(loss), float(cycled_window_loss(stepped, *fixed))
    assert before == pytest.approx(float(cycled_window_loss(start, *fixed)), rel=1e-5)
    # The second-order term is rate^2 |H|: at this rate it is a few percent of the first.
    assert after - before == pytest.approx(-rate * gradient_l1, rel=0.1)


def test_fit_with_the_cycled_scheme_gives_the_weights_of_the_loop_it_replaced(cycled_fit):
    """The old `fit_cycled` loop written out: model and Adam from the config, key split per step."""
    config, _, fitted, _, _ = cycled_fit

    @eqx.filter_jit
    def old_step(model, opt_state, key, optimizer):
        batch = cycled_training_batch(key, config.batch_size, WINDOW_STEPS, math.sqrt(2.0))
        loss, grads = eqx.filter_value_and_grad(cycled_window_loss)(model, *batch)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state

    model = build_model(config)
    optimizer = optimizer_for(config.learning_rate, config.steps)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))
    key = jax.random.PRNGKey(config.seed + 1)
    for _ in range(config.steps):
        key, step_key = jax.random.split(key)
        model, opt_state = old_step(model, opt_state, step_key, optimizer)
    # Both move the weights by up to ~10 learning rates; they agree to float32 rounding of that.
    moved = np.max(np.abs(_weights(model) - _weights(build_model(config))))
    assert moved > config.learning_rate
    np.testing.assert_allclose(_weights(fitted), _weights(model), atol=1e-6, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.ci  # ~15 s of compiles: outside the README's command, run by CI in a step of its own (.ci/run)
def test_own_cycles_scheme_renews_its_windows_from_the_current_model(monkeypatch):
    config = cycled_config(
        steps=4,
        batch_size=4,
        hyperparameters=SMALL,
        scheme="own_cycles",
        scheme_options={"rounds": 2, "n_truths": 2, "n_cycles": 24},
    )
    start = build_model(config)
    renewals = []
    real = cycle_training.cycled_windows

    def recording(model, key, n_truths, n_cycles, **model_error):
        renewals.append((_weights(model), n_truths, n_cycles))
        return real(model, key, n_truths, n_cycles, **model_error)

    monkeypatch.setattr(cycle_training, "cycled_windows", recording)
    trained, report = fit(config, model=start)
    assert len(report.losses) == 4 and np.all(np.isfinite(report.losses))
    assert [(n, c) for _, n, c in renewals] == [(2, 24), (2, 24)]
    np.testing.assert_array_equal(renewals[0][0], _weights(start))  # round 1: the starting model
    assert not np.array_equal(renewals[1][0], _weights(start))  # round 2: the model after 2 steps
    assert not np.array_equal(_weights(trained), renewals[1][0])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scheme": "cycles"}, "scheme"),
        ({"scheme": "cycled", "architecture": "fourdvarnet_reference"}, "architecture"),
        ({"scheme": "cycled", "T_assim": (25, 50)}, "T_assim"),
    ],
)
def test_a_bad_scheme_is_refused_naming_it(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**changes)


def test_fit_many_refuses_a_scheme():
    config = cycled_config(steps=1, batch_size=2, hyperparameters=SMALL)
    with pytest.raises(ValueError, match="fit_many"):
        fit_many([config, config])


def test_a_scheme_survives_the_model_file(tmp_path):
    config = cycled_config(steps=0, batch_size=2, hyperparameters=SMALL, scheme_options={"rounds": 3})
    path = tmp_path / "cycled.eqx"
    core.save_model(path, build_model(config), config)
    loaded = TrainingConfig.from_json(core.load_model(path)[1]["config"])
    assert loaded == config and loaded.scheme == "cycled" and loaded.scheme_options == {"rounds": 3}
