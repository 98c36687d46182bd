"""Uncertainty heads and several parameters: every regressor, every head, one parameter or three."""

import pickle

import conftest
import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.base import clone

from sklens import CNNRegressor, DANNRegressor, MMDRegressor
from sklens.nn.heads import gaussian_moments

HEADS = ["point", "gaussian", "flow"]
# The shared short fit at the default learning rate ('auto': 3e-3 on tabular rows), with a small flow.
FAST = {**conftest.FAST, "lr": "auto", "flow_context": 8, "flow_hidden": 16, "flow_transforms": 2}


@pytest.fixture(scope="module")
def tabular():
    """Tabular rows, three parameters of very different units, and shifted target rows."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 4)).astype(np.float32)
    Y = np.stack([1e3 * X[:, 0], 1e-3 * (X[:, 1] - X[:, 2]), X[:, 3] + 5], axis=1).astype(np.float64)
    return X, Y, X[:24] + 0.5


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("cls", conftest.REGRESSORS)
def test_every_regressor_takes_every_head_and_three_parameters(cls, head, tabular):
    X, Y, X_tgt = tabular
    model = cls(**FAST, head=head).fit(X, Y, X_tgt=X_tgt)
    mean, std = model.predict(X, return_std=True)
    assert mean.shape == std.shape == Y.shape and np.isfinite(mean).all()
    assert (std > 0).all() == (head != "point")
    assert np.isfinite(model.score(X, Y))
    if cls is not CNNRegressor:  # the adaptation loss ran on the same features
        assert np.isfinite(model.history[-1, "adaptation_loss"])


@pytest.mark.parametrize("n_members", [1, 2])
@pytest.mark.parametrize("head", ["gaussian", "flow"])
def test_shapes_for_one_parameter_and_for_three(head, n_members, tabular):
    X, Y, X_tgt = tabular
    for y in (Y[:, 2], Y):  # a 1-D y, then (n, 3)
        model = MMDRegressor(**FAST, head=head, n_members=n_members).fit(X, y, X_tgt=X_tgt)
        mean, std = model.predict(X[:5], return_std=True)
        assert mean.shape == std.shape == y[:5].shape
        assert model.predict_members(X[:5]).shape == (n_members, *y[:5].shape)
        assert model.sample_posterior(X[:5], 7).shape == (7, *y[:5].shape)
        assert model.log_likelihood(X[:5], y[:5]).shape == (5,)


def test_law_of_total_variance_across_members(tabular):
    X, Y, X_tgt = tabular
    model = DANNRegressor(**FAST, head="gaussian", n_members=2).fit(X, Y, X_tgt=X_tgt)
    with torch.no_grad():
        outputs = model.module_(torch.as_tensor(X)).transpose(0, 1)  # (members, n, 2k)
    member_var = gaussian_moments(outputs)[1].double().numpy() * model.y_scale_**2
    members = model.predict_members(X)
    mean, std = model.predict(X, return_std=True)
    np.testing.assert_allclose(mean, members.mean(axis=0))
    np.testing.assert_allclose(std**2, member_var.mean(axis=0) + members.var(axis=0), rtol=1e-5)
    assert (std**2 > member_var.mean(axis=0)).all()  # the members disagree


def test_gaussian_head_learns_heteroscedastic_noise():
    """Noise 0.05 for x < 0, 0.4 for x > 0: the predicted std follows it and the 68% interval covers
    about 68% of held-out rows."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(1600, 1)).astype(np.float32)
    noise = np.where(x[:, 0] < 0, 0.05, 0.4)
    y = np.sin(2 * x[:, 0]) + noise * rng.normal(size=1600)
    # The spread as the head learnt it: what is tested is the head, not the calibration on held-out rows.
    model = CNNRegressor(
        head="gaussian", max_epochs=15, batch_size=64, random_state=0, calibration_fraction=0
    )
    model.fit(x[:1200], y[:1200])
    mean, std = model.predict(x[1200:], return_std=True)
    low, high = x[1200:, 0] < 0, x[1200:, 0] > 0
    assert np.median(std[high]) > 3 * np.median(std[low])
    assert np.mean(np.abs(y[1200:] - mean) < std) == pytest.approx(0.68, abs=0.1)


def test_y_of_very_different_units_is_scaled_per_column(tabular):
    X, Y, _ = tabular
    model = CNNRegressor(max_epochs=40, random_state=0).fit(X, Y)
    np.testing.assert_allclose(model.y_mean_, Y.mean(axis=0), rtol=1e-6)  # of float32 y
    np.testing.assert_allclose(model.y_scale_, Y.std(axis=0), rtol=1e-6)
    pred = model.predict(X)
    r2 = 1 - ((Y - pred) ** 2).sum(axis=0) / ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
    assert (r2 > 0.8).all(), r2
    unscaled = CNNRegressor(max_epochs=40, random_state=0, target_scaling="none").fit(X, Y)
    assert model.score(X, Y) > unscaled.score(X, Y) + 0.2  # the 1e-3 column is lost without scaling


def test_a_point_model_of_one_parameter_trains_on_y_as_given(tabular):
    X, Y, _ = tabular
    model = CNNRegressor(max_epochs=1, random_state=0).fit(X, Y[:, 0])
    assert model.y_mean_.tolist() == [0.0] and model.y_scale_.tolist() == [1.0]
    assert CNNRegressor(max_epochs=1, head="gaussian").fit(X, Y[:, 0]).y_scale_[0] > 100


@pytest.mark.parametrize("head", ["gaussian", "flow"])
def test_log_likelihood_is_a_density_in_the_units_of_y(head, tabular):
    X, Y, _ = tabular
    y = Y[:, 0]  # units of 1e3
    model = CNNRegressor(**FAST, head=head).fit(X, y)
    grid = np.linspace(y.min() - 3 * y.std(), y.max() + 3 * y.std(), 1501)
    density = np.exp(model.log_likelihood(np.repeat(X[:1], len(grid), axis=0), grid))
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=0.02)


def test_gaussian_log_likelihood_is_the_normal_density_of_predict(tabular):
    X, Y, _ = tabular
    model = CNNRegressor(**FAST, head="gaussian").fit(X, Y[:, :2])
    mean, std = model.predict(X, return_std=True)
    expected = norm.logpdf(Y[:, :2], mean, std).sum(axis=1)
    np.testing.assert_allclose(model.log_likelihood(X, Y[:, :2]), expected, rtol=1e-5)


@pytest.mark.parametrize("n_members", [1, 2])
def test_samples_are_seeded_and_follow_the_predictive_moments(n_members, tabular):
    X, Y, _ = tabular
    model = CNNRegressor(**FAST, head="gaussian", n_members=n_members).fit(X, Y)
    samples = model.sample_posterior(X[:3], 4000, random_state=1)
    np.testing.assert_array_equal(samples, model.sample_posterior(X[:3], 4000, random_state=1))
    mean, std = model.predict(X[:3], return_std=True)
    np.testing.assert_allclose(samples.mean(axis=0), mean, atol=0.1 * std.max())
    np.testing.assert_allclose(samples.std(axis=0), std, rtol=0.1)


def test_flow_predictions_are_deterministic(tabular):
    X, Y, _ = tabular
    model = CNNRegressor(**FAST, head="flow").fit(X, Y)
    np.testing.assert_array_equal(model.predict(X[:4]), model.predict(X[:4]))


@pytest.mark.parametrize(
    ("name", "value"),
    [("head", "quantile"), ("beta", 1.5), ("beta", -0.1), ("target_scaling", "minmax"), ("flow_context", 0)],
)
def test_bad_head_parameters_are_refused_before_any_work(name, value, tabular):
    X, Y, _ = tabular
    model = CNNRegressor(**{name: value})
    with pytest.raises(ValueError, match=f"'{name}' parameter of CNNRegressor must be"):
        model.fit(X, Y)
    assert not model.initialized_


def test_nan_in_some_columns_of_a_labelled_row_is_refused(tabular):
    X, Y, _ = tabular
    Y = Y.copy()
    Y[3, 1] = np.nan
    model = CNNRegressor(head="flow")
    with pytest.raises(ValueError, match="NaN in some outputs only"):
        model.fit(X, Y)
    assert not model.initialized_


def test_y_without_parameters_is_refused(tabular):
    X, _, _ = tabular
    with pytest.raises(ValueError, match="k >= 1 parameters"):
        CNNRegressor(head="flow").fit(X, np.zeros((len(X), 0)))


@pytest.mark.parametrize("n_samples", [0, -3, 2.5, True])
def test_n_samples_must_be_a_positive_integer(n_samples, tabular):
    X, Y, _ = tabular
    model = CNNRegressor(max_epochs=0, head="gaussian").fit(X, Y)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        model.sample_posterior(X, n_samples)


def test_a_point_head_has_no_distribution(tabular):
    X, Y, _ = tabular
    model = CNNRegressor(max_epochs=0).fit(X, Y)
    for method in (lambda: model.sample_posterior(X, 3), lambda: model.log_likelihood(X, Y)):
        with pytest.raises(ValueError, match="head='gaussian' or head='flow'"):
            method()


@pytest.mark.parametrize("head", ["gaussian", "flow"])
def test_pickle_and_clone(head, tabular):
    X, Y, _ = tabular
    model = CNNRegressor(**FAST, head=head, beta=0.3).fit(X, Y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    np.testing.assert_array_equal(restored.log_likelihood(X, Y), model.log_likelihood(X, Y))
    fresh = clone(model)
    assert fresh.get_params()["head"] == head and fresh.get_params()["beta"] == 0.3
    assert not fresh.initialized_


def test_every_members_flow_is_trained_by_the_optimiser(tabular):
    X, Y, X_tgt = tabular
    model = MMDRegressor(**FAST, head="flow", n_members=2).fit(X, Y, X_tgt=X_tgt)
    in_optimiser = {id(p) for group in model.optimizer_.param_groups for p in group["params"]}
    flows = list(model.output_head_.parameters())
    assert len(model.output_head_) == 2 and {id(p) for p in flows} <= in_optimiser
