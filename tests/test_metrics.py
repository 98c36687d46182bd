"""sklens.metrics: rotation spread of lens finders; calibration and scores of probabilistic predictions."""

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklens import RotInvariantLensClassifier
from sklens.datasets import make_toy_lens_finding
from sklens.metrics import (
    RotationSpread,
    calibration_curve,
    gaussian_crps,
    gaussian_nll,
    interval_coverage,
    rotation_spread,
    rotation_std,
    sample_crps,
    sample_nll,
)


@pytest.fixture(scope="module")
def data():
    toy = make_toy_lens_finding(60, image_size=12, random_state=1)
    return toy.images, toy.target


def _flat_logistic(X, y):
    flatten = FunctionTransformer(lambda images: images.reshape(len(images), -1))
    return make_pipeline(flatten, LogisticRegression(max_iter=200)).fit(X, y)


def test_spread_is_the_std_of_the_four_rotated_probabilities(data):
    X, y = data
    model = _flat_logistic(X, y)
    p = np.stack([model.predict_proba(np.rot90(X, k, axes=(2, 3)))[:, 1] for k in range(4)])
    spread = rotation_spread(model, X)
    assert isinstance(spread, RotationSpread)
    assert spread.mean == pytest.approx(p.std(axis=0).mean())
    assert spread.max == pytest.approx(p.std(axis=0).max())
    assert spread.max > spread.mean > 0
    np.testing.assert_allclose(rotation_std(model, X), p.std(axis=0))


def test_invariant_classifier_has_zero_spread(data):
    X, y = data
    clf = RotInvariantLensClassifier(
        n_filters=(2, 2, 2), kernel_sizes=(3, 3, 3), hidden=(4, 4), max_epochs=1, random_state=0
    ).fit(X, y)
    assert rotation_spread(clf, X) == RotationSpread(mean=0.0, max=0.0)
    assert np.array_equal(rotation_std(clf, X), np.zeros(len(X)))


@pytest.mark.parametrize("metric", [rotation_spread, rotation_std])
def test_non_square_images_are_refused(data, metric):
    X, y = data
    with pytest.raises(ValueError, match="square"):
        metric(_flat_logistic(X[..., :10], y), X[..., :10])


# Probabilistic predictions of k = 3 parameters: per-row means and widths, and true values drawn
# from exactly those Gaussians (perfectly calibrated).
N_ROWS, K = 4000, 3


@pytest.fixture(scope="module")
def gaussian():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(N_ROWS, K)) * [1.0, 5.0, 0.1]
    std = rng.uniform(0.5, 2.0, size=(N_ROWS, K)) * [1.0, 5.0, 0.1]
    y = mean + std * rng.normal(size=(N_ROWS, K))
    return y, mean, std


@pytest.fixture(scope="module")
def draws(gaussian):
    y, mean, std = gaussian
    return mean + std * np.random.default_rng(1).normal(size=(400, N_ROWS, K))


def binomial_error(p, n=N_ROWS):
    return np.sqrt(p * (1 - p) / n)


def test_calibrated_gaussian_covers_the_nominal_fraction(gaussian):
    y, mean, std = gaussian
    levels = np.array([0.5, 0.68, 0.95])
    coverage = interval_coverage(y, y_mean=mean, y_std=std, levels=levels)
    assert coverage.shape == (3, K)
    assert np.all(np.abs(coverage - levels[:, None]) < 3 * binomial_error(levels)[:, None])


def test_over_confident_gaussian_under_covers_as_scipy_predicts(gaussian):
    y, mean, std = gaussian
    levels = np.array([0.68, 0.95])
    coverage = interval_coverage(y, y_mean=mean, y_std=std / 2, levels=levels)
    # Half the width: the interval is +- z/2 true standard deviations.
    expected = 2 * stats.norm.cdf(stats.norm.ppf(0.5 + levels / 2) / 2) - 1
    assert np.all(coverage < levels[:, None] - 0.2)
    assert np.all(np.abs(coverage - expected[:, None]) < 3 * binomial_error(expected)[:, None])


def test_samples_cover_as_their_gaussian_does(gaussian, draws):
    y, mean, std = gaussian
    from_samples = interval_coverage(y, samples=draws)
    assert np.all(np.abs(from_samples - interval_coverage(y, y_mean=mean, y_std=std)) < 0.02)
    assert np.all(np.abs(from_samples - [[0.68], [0.95]]) < 3 * binomial_error(0.68) + 0.01)


def test_sample_intervals_are_numpys_quantiles():
    rng = np.random.default_rng(2)
    y, samples = rng.normal(size=(50, 2)), rng.normal(size=(7, 50, 2))
    levels = np.array([0.3, 0.9])
    lower = np.quantile(samples, (1 - levels) / 2, axis=0)
    upper = np.quantile(samples, (1 + levels) / 2, axis=0)
    expected = ((lower <= y) & (y <= upper)).mean(axis=1)
    np.testing.assert_array_equal(interval_coverage(y, samples=samples, levels=levels), expected)


def test_calibration_curve_is_near_diagonal_when_calibrated_and_below_when_over_confident(gaussian, draws):
    y, mean, std = gaussian
    curve = calibration_curve(y, y_mean=mean, y_std=std)
    np.testing.assert_allclose(curve.levels, np.arange(1, 100) / 100)
    assert curve.coverage.shape == (99, K) and curve.miscalibration.shape == (K,)
    assert np.all(curve.miscalibration < 0.015)
    assert np.all(np.abs(curve.coverage - curve.levels[:, None]) < 4 * binomial_error(0.5))
    np.testing.assert_allclose(
        curve.miscalibration, np.abs(curve.coverage - curve.levels[:, None]).mean(axis=0)
    )
    over = calibration_curve(y, y_mean=mean, y_std=std / 2)
    assert np.all(over.coverage <= over.levels[:, None] + 1e-12) and np.all(over.miscalibration > 0.15)
    assert np.all(calibration_curve(y, samples=draws).miscalibration < 0.02)


def test_one_dimensional_y_gives_one_dimensional_results(gaussian, draws):
    y, mean, std = (a[:, 0] for a in gaussian)
    assert interval_coverage(y, y_mean=mean, y_std=std).shape == (2,)
    curve = calibration_curve(y, samples=draws[..., 0], levels=[0.5])
    assert curve.coverage.shape == (1,) and isinstance(curve.miscalibration, float)
    for score in (gaussian_nll(y, mean, std), gaussian_crps(y, mean, std), sample_crps(y, draws[..., 0])):
        assert isinstance(score, float)


def test_gaussian_nll_is_scipys_log_density(gaussian):
    y, mean, std = gaussian
    np.testing.assert_allclose(gaussian_nll(y, mean, std), -stats.norm.logpdf(y, mean, std).mean(axis=0))


def crps_by_integration(y, mean, std):
    """CRPS as its definition: the integral of (F(x) - 1[x >= y])^2 over x."""
    below = integrate.quad(lambda x: stats.norm.cdf(x, mean, std) ** 2, -np.inf, y)[0]
    return below + integrate.quad(lambda x: stats.norm.sf(x, mean, std) ** 2, y, np.inf)[0]


@pytest.mark.parametrize("y, mean, std", [(0.3, 0.0, 1.0), (-2.0, 1.0, 0.5), (5.0, 5.0, 2.0)])
def test_gaussian_crps_is_the_integral_of_the_squared_cdf_difference(y, mean, std):
    assert gaussian_crps([y], [mean], [std]) == pytest.approx(crps_by_integration(y, mean, std))


def test_sample_scores_approach_the_gaussian_ones_for_many_draws(gaussian, draws):
    y, mean, std = gaussian
    np.testing.assert_allclose(sample_crps(y, draws), gaussian_crps(y, mean, std), rtol=0.01)
    np.testing.assert_allclose(sample_nll(y, draws), gaussian_nll(y, mean, std), atol=0.03)


def test_sample_crps_is_the_pairwise_energy_form():
    rng = np.random.default_rng(3)
    y, samples = rng.normal(size=(20, 2)), rng.normal(size=(9, 20, 2))
    to_truth = np.abs(samples - y).mean(axis=0)
    between = np.abs(samples[:, None] - samples[None, :]).mean(axis=(0, 1))
    np.testing.assert_allclose(sample_crps(y, samples), (to_truth - 0.5 * between).mean(axis=0))


def test_sample_nll_is_scipys_gaussian_kde_per_parameter():
    rng = np.random.default_rng(4)
    y, samples = rng.normal(size=(10, 2)), rng.gamma(2.0, size=(60, 10, 2))
    expected = [
        [-stats.gaussian_kde(samples[:, i, j]).logpdf(y[i, j])[0] for j in range(2)] for i in range(10)
    ]
    np.testing.assert_allclose(sample_nll(y, samples), np.mean(expected, axis=0))


Y = np.zeros((5, 2))
ONES = np.ones((5, 2))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: interval_coverage(Y, y_mean=Y, y_std=ONES, samples=np.zeros((3, 5, 2))), "not both"),
        (lambda: interval_coverage(Y), "not neither"),
        (lambda: interval_coverage(Y, y_mean=Y), "both y_mean and y_std"),
        (lambda: interval_coverage(Y, y_mean=Y[:4], y_std=ONES), r"y_mean must have the shape.*\(4, 2\)"),
        (lambda: gaussian_nll(Y, Y, ONES[:, :1]), r"y_std must have the shape.*\(5, 1\)"),
        (lambda: gaussian_crps(Y, Y, ONES - 1), "y_std must be positive; 10 values"),
        (lambda: gaussian_nll([0.0, np.nan], [0.0, 0.0], [1.0, 1.0]), r"y_true \(shape \(2,\)\).*1 NaN"),
        (lambda: gaussian_nll(Y, Y + np.inf, ONES), "y_mean .* 10 NaN or infinite"),
        (lambda: sample_crps(Y, np.zeros((3, 5))), r"samples must have shape .*got shape \(3, 5\)"),
        (lambda: sample_crps(Y, np.zeros((1, 5, 2))), "n_samples >= 2"),
        (lambda: sample_crps(Y, np.full((3, 5, 2), np.nan)), "samples .* 30 NaN"),
        (lambda: sample_nll(Y, np.zeros((3, 5, 2))), "10 .* pairs have identical samples"),
        (
            lambda: sample_crps(np.zeros((5, 2, 1)), np.zeros((3, 5, 2, 1))),
            r"y_true must have shape.*\(5, 2, 1\)",
        ),
        (lambda: sample_crps(np.zeros(0), np.zeros((3, 0))), r"y_true must .*\(0,\)"),
        (lambda: gaussian_nll(["a"], [0.0], [1.0]), "y_true must be numeric"),
        (
            lambda: interval_coverage(Y, y_mean=Y, y_std=ONES, levels=[0.5, 1.0]),
            "levels must .* in \\(0, 1\\)",
        ),
        (lambda: calibration_curve(Y, y_mean=Y, y_std=ONES, levels=[]), "levels must"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
