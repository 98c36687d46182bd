"""Recalibration of predictive intervals on labelled held-out data (sklens.calibration)."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression

from sklens import CNNRegressor, DANNRegressor
from sklens.calibration import MIN_CALIBRATION_ROWS, RecalibratedRegressor
from sklens.datasets import make_toy_lenses
from sklens.metrics import interval_coverage

FIT = dict(max_epochs=20, batch_size=64, lr=3e-3, random_state=0)


def linear_rows(n: int, noise: float, seed: int, k: int = 2):
    """Tabular rows whose k parameters are linear in the features plus Gaussian noise of ``noise``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = np.c_[X[:, 0] + 0.5 * X[:, 1], X[:, 2] - X[:, 3]][:, :k] + noise * rng.normal(size=(n, k))
    return X, y


@pytest.fixture(scope="module")
def quiet_model():
    """A gaussian-head model trained on rows with noise 0.2: over-confident on rows with noise 0.6.
    Its spread as the head learnt it (``calibration_fraction=0``): the recalibration here is the subject."""
    return CNNRegressor(head="gaussian", calibration_fraction=0, **FIT).fit(*linear_rows(1000, 0.2, seed=0))


def coverage(model, X, y):
    mean, std = model.predict(X, return_std=True)
    return interval_coverage(y, y_mean=mean, y_std=std)


def test_recalibration_widens_an_over_confident_model_to_nominal_coverage(quiet_model):
    X_cal, y_cal = linear_rows(300, 0.6, seed=1)
    X_test, y_test = linear_rows(3000, 0.6, seed=2)
    assert (coverage(quiet_model, X_test, y_test)[0] < 0.4).all()  # 68% intervals far too narrow
    recalibrated = RecalibratedRegressor(quiet_model).fit(X_cal, y_cal)
    assert (recalibrated.scale_ > 2).all()
    assert (recalibrated.miscalibration_after_ < recalibrated.miscalibration_before_ / 5).all()
    after = coverage(recalibrated, X_test, y_test)
    np.testing.assert_allclose(after, [[0.68, 0.68], [0.95, 0.95]], atol=0.05)
    from_samples = interval_coverage(
        y_test, samples=recalibrated.sample_posterior(X_test, 400, random_state=0)
    )
    np.testing.assert_allclose(from_samples, after, atol=0.02)


def test_recalibration_narrows_an_under_confident_model():
    noisy_model = CNNRegressor(head="gaussian", **FIT).fit(*linear_rows(1000, 0.8, seed=0))
    X_cal, y_cal = linear_rows(300, 0.2, seed=1)
    X_test, y_test = linear_rows(3000, 0.2, seed=2)
    assert (coverage(noisy_model, X_test, y_test)[0] > 0.9).all()
    recalibrated = RecalibratedRegressor(noisy_model).fit(X_cal, y_cal)
    assert (recalibrated.scale_ < 0.6).all()
    np.testing.assert_allclose(coverage(recalibrated, X_test, y_test)[0], 0.68, atol=0.06)


def test_the_quantile_method_also_fixes_the_shape_of_heavy_tailed_errors(quiet_model):
    def heavy_tailed_rows(n: int, seed: int):
        X, y = linear_rows(n, 0.0, seed)
        return X, y + 0.4 * np.random.default_rng(seed + 10).standard_t(2, size=y.shape)

    X_test, y_test = heavy_tailed_rows(3000, seed=2)
    coverages = {}
    for method in ("scale", "quantile"):
        recalibrated = RecalibratedRegressor(quiet_model, method=method).fit(*heavy_tailed_rows(400, seed=1))
        samples = recalibrated.sample_posterior(X_test, 400, random_state=0)
        coverages[method] = interval_coverage(y_test, samples=samples, levels=(0.68, 0.95))
    assert (coverages["scale"][1] < 0.9).all()  # one factor cannot widen the tails alone
    np.testing.assert_allclose(coverages["quantile"], [[0.68, 0.68], [0.95, 0.95]], atol=0.04)
    assert recalibrated.level_maps_.shape == (2, 1001)
    assert (np.diff(recalibrated.level_maps_, axis=1) >= 0).all()
    mean, std = recalibrated.predict(X_test[:5], return_std=True)
    np.testing.assert_array_equal(mean, quiet_model.predict(X_test[:5]))
    assert std.shape == (5, 2) and (std > quiet_model.predict(X_test[:5], return_std=True)[1]).all()


def test_the_mean_is_kept_and_the_spread_scaled_by_the_factor(quiet_model):
    X, y = linear_rows(200, 0.6, seed=1)
    recalibrated = RecalibratedRegressor(quiet_model).fit(X, y)
    base_mean, base_std = quiet_model.predict(X, return_std=True)
    mean, std = recalibrated.predict(X, return_std=True)
    np.testing.assert_array_equal(recalibrated.predict(X), quiet_model.predict(X))
    np.testing.assert_array_equal(mean, base_mean)
    np.testing.assert_allclose(std, base_std * recalibrated.scale_)
    base = quiet_model.sample_posterior(X, 50, random_state=3)
    samples = recalibrated.sample_posterior(X, 50, random_state=3)
    np.testing.assert_allclose(samples.mean(axis=0), base.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(samples.std(axis=0), base.std(axis=0) * recalibrated.scale_, rtol=1e-9)


def test_a_model_of_one_parameter_keeps_its_shapes():
    X, y = linear_rows(400, 0.2, seed=0, k=1)
    model = CNNRegressor(head="gaussian", **FIT).fit(X, y[:, 0])
    X_cal, y_cal = linear_rows(100, 0.6, seed=1, k=1)
    recalibrated = RecalibratedRegressor(model).fit(X_cal, y_cal[:, 0])
    assert recalibrated.scale_.shape == (1,) and recalibrated.scale_[0] > 1.5
    mean, std = recalibrated.predict(X[:7], return_std=True)
    assert mean.shape == std.shape == (7,)
    assert recalibrated.sample_posterior(X[:7], 5).shape == (5, 7)


@pytest.mark.slow
def test_a_flow_ensemble_is_recalibrated_through_its_mixture_samples():
    flows = CNNRegressor(head="flow", n_members=2, flow_context=8, flow_hidden=16, flow_transforms=2, **FIT)
    flows.fit(*linear_rows(600, 0.2, seed=0))
    X_test, y_test = linear_rows(600, 0.6, seed=2)
    before = interval_coverage(y_test, samples=flows.sample_posterior(X_test, 100, random_state=0))
    recalibrated = RecalibratedRegressor(flows, n_samples=100).fit(*linear_rows(300, 0.6, seed=1))
    # Measured: scale 2.74, 2.28; 68% coverage 0.29, 0.37 before, 0.68, 0.70 after; 95% 0.96, 0.97 after.
    after = interval_coverage(y_test, samples=recalibrated.sample_posterior(X_test, 100, random_state=0))
    assert recalibrated.scale_.shape == (2,) and (recalibrated.scale_ > 1.5).all()
    assert (before[0] < 0.55).all()
    np.testing.assert_allclose(after, [[0.68, 0.68], [0.95, 0.95]], atol=0.06)


def test_clone_of_a_frozen_model_keeps_it_and_pickling_keeps_the_factors(quiet_model):
    X, y = linear_rows(100, 0.6, seed=1)
    recalibrated = RecalibratedRegressor(FrozenEstimator(quiet_model)).fit(X, y)
    refitted = clone(recalibrated).fit(X, y)
    np.testing.assert_array_equal(refitted.scale_, recalibrated.scale_)
    restored = pickle.loads(pickle.dumps(recalibrated))
    np.testing.assert_array_equal(
        restored.predict(X, return_std=True)[1], recalibrated.predict(X, return_std=True)[1]
    )
    assert recalibrated.get_params()["n_samples"] == 500
    assert np.isfinite(recalibrated.score(X, y))


def test_with_domain_batchnorm_the_model_predicts_each_domain_with_its_statistics():
    lenses = make_toy_lenses(48, random_state=0)
    survey = make_toy_lenses(24, domain="target", random_state=1)
    model = DANNRegressor(
        head="gaussian", domain_batchnorm=True, max_epochs=1, random_state=0, predict_domain="source"
    )
    model.fit(lenses.images, lenses.target, X_tgt=survey.images)
    recalibrated = RecalibratedRegressor(model, n_samples=50).fit(lenses.images[:24], lenses.target[:24])
    on_source = recalibrated.predict(survey.images, return_std=True)[1]
    recalibrated.set_params(estimator__predict_domain="target")
    assert model.predict_domain == "target"
    assert not np.allclose(recalibrated.predict(survey.images, return_std=True)[1], on_source)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda m: RecalibratedRegressor(CNNRegressor(head="gaussian")), NotFittedError, "FrozenEstimator"),
        (lambda m: RecalibratedRegressor(LinearRegression()), ValueError, "sample_posterior"),
        (lambda m: RecalibratedRegressor(m, n_samples=1), ValueError, "n_samples"),
    ],
)
def test_bad_estimators_and_parameters_are_refused_before_sampling(quiet_model, make, error, message):
    X, y = linear_rows(50, 0.6, seed=1)
    with pytest.raises(error, match=message):
        make(quiet_model).fit(X, y)


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.c_[np.full(50, np.nan), np.zeros(50)], "NaN"),
        (np.zeros((MIN_CALIBRATION_ROWS - 1, 2)), "at least 20 labelled rows"),
        (np.zeros((50, 3)), r"50 rows of 3 parameters .* shape \(500, 50, 2\)"),
        (np.zeros((49, 2)), r"49 rows of 2 parameters .* shape \(500, 50, 2\)"),
    ],
)
def test_bad_labels_are_refused_with_what_is_wrong(quiet_model, y, message):
    X, _ = linear_rows(len(y) if len(y) != 49 else 50, 0.6, seed=1)
    with pytest.raises(ValueError, match=message):
        RecalibratedRegressor(quiet_model).fit(X, y)


def test_a_point_model_has_no_spread_to_recalibrate():
    point = CNNRegressor(**{**FIT, "max_epochs": 1}).fit(*linear_rows(100, 0.2, seed=0))
    with pytest.raises(ValueError, match="head='gaussian' or head='flow'"):
        RecalibratedRegressor(point).fit(*linear_rows(50, 0.6, seed=1))


def test_predicting_before_fit_and_one_sample_are_refused(quiet_model):
    X, y = linear_rows(50, 0.6, seed=1)
    with pytest.raises(NotFittedError):
        RecalibratedRegressor(quiet_model).predict(X)
    recalibrated = RecalibratedRegressor(quiet_model).fit(X, y)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 2"):
        recalibrated.sample_posterior(X, 1)
