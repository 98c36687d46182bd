"""Lens populations: histogram densities, their EM estimate from posterior samples, importance weights."""

import warnings

import numpy as np
import pytest

from sklens.population import (
    MIN_IMAGES,
    Population,
    PopulationShiftWarning,
    estimate_population,
    importance_weights,
)

PRIOR = Population.uniform(0.5, 3.0, 10, name="theta_E")


def posterior_samples(truth: np.ndarray, noise: float, n_samples: int = 100, seed: int = 0) -> np.ndarray:
    """What a model trained under a flat prior returns: samples around a noisy measurement of each value."""
    rng = np.random.default_rng(seed)
    measured = truth + noise * rng.normal(size=len(truth))
    return measured + noise * rng.normal(size=(n_samples, len(truth)))


def lognormal_lenses(n: int, seed: int = 1) -> np.ndarray:
    values = np.exp(np.random.default_rng(seed).normal(np.log(1.2), 0.3, size=3 * n))
    return values[(values >= 0.5) & (values <= 3.0)][:n]


def test_a_population_is_a_normalised_density_that_refuses_values_outside_its_support():
    population = Population([0.5, 1.0, 3.0], [1.0, 3.0], name="theta_E")
    np.testing.assert_allclose(population.weights, [0.25, 0.75])
    np.testing.assert_allclose(population.density([0.7, 2.0, 3.0, 3.5, 0.1]), [0.5, 0.375, 0.375, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"theta_E: 1 of 3 values lie outside the support \[0.5, 3\]"):
        Population.from_values([1.0, 2.0, 3.2], [0.5, 1.0, 3.0], name="theta_E")
    with pytest.raises(ValueError, match="edges must increase"):
        Population([1.0, 0.5], [1.0])
    with pytest.raises(ValueError, match="weights sum to 0"):
        Population([0.0, 1.0], [0.0])


def test_rebinning_keeps_the_mass_and_total_variation_is_half_the_l1_distance():
    coarse = Population([0.0, 1.0, 2.0], [0.2, 0.8])
    np.testing.assert_allclose(coarse.rebinned([0.0, 0.5, 1.0, 2.0]).weights, [0.1, 0.1, 0.8])
    assert coarse.total_variation(Population([0.0, 1.0, 2.0], [0.5, 0.5])) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="reach outside the support"):
        coarse.rebinned([0.0, 3.0])


@pytest.mark.parametrize("n_images", [500, 2000])
def test_the_estimate_recovers_a_shifted_population_within_0_1_total_variation(n_images):
    truth = lognormal_lenses(n_images)
    estimate = estimate_population(posterior_samples(truth, 0.12), PRIOR, n_bootstrap=20)
    distance = estimate.total_variation(Population.from_values(truth, PRIOR.edges))
    assert distance < 0.1
    # the prior itself is far from it: the estimate moved, and its bootstrap says by how much it is sure
    assert PRIOR.total_variation(Population.from_values(truth, PRIOR.edges)) > 0.4
    assert estimate.std.shape == (10,) and (estimate.std[1:4] > 0).all()


def test_an_unshifted_population_is_estimated_as_the_prior_within_the_noise_of_its_images():
    """3,000 images: the empirical histogram itself is ~0.02 from uniform; the estimate stays well below
    the 0.1 from which PriorShiftRegressor acts on a shift."""
    truth = np.random.default_rng(2).uniform(0.5, 3.0, 3000)
    estimate = estimate_population(posterior_samples(truth, 0.12), PRIOR, n_bootstrap=0)
    assert estimate.total_variation(PRIOR) < 0.07


def test_zero_density_bins_and_samples_outside_the_prior_give_no_nan():
    samples = np.full((20, 30), 3.5)  # every sample outside the prior's support
    samples[:, :10] = 1.1
    estimate = estimate_population(samples, PRIOR, n_bootstrap=5)
    assert np.isfinite(estimate.weights).all() and estimate.weights.argmax() == 2
    start = Population(PRIOR.edges, [0, 0, 1, 1, 1, 1, 1, 1, 1, 1])  # the target has none below 1"
    weights = importance_weights(np.full((5, 3), 0.7), PRIOR, start)
    np.testing.assert_allclose(weights, 0.2)  # no information: equal weights, not NaN


def test_too_few_images_warn_and_the_std_says_how_little_they_carry():
    truth = lognormal_lenses(MIN_IMAGES - 10)
    with pytest.warns(PopulationShiftWarning, match=f"from {MIN_IMAGES - 10} images"):
        few = estimate_population(posterior_samples(truth, 0.12), PRIOR, n_bootstrap=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PopulationShiftWarning)
        many = estimate_population(posterior_samples(lognormal_lenses(2000), 0.12), PRIOR, n_bootstrap=20)
    assert few.std.max() > 2 * many.std.max()


def test_bad_samples_are_refused_naming_the_parameter():
    with pytest.raises(ValueError, match=r"theta_E: samples must have shape"):
        estimate_population(np.ones(5), PRIOR)
    with pytest.raises(ValueError, match=r"theta_E: samples hold 1 non-finite values"):
        estimate_population(np.array([[1.0, np.nan], [1.0, 1.0]]), PRIOR)


def test_importance_weights_move_each_images_mass_toward_the_population():
    target = Population(PRIOR.edges, [0, 1, 1, 0, 0, 0, 0, 0, 0, 0])  # all in [0.75, 1.25)
    samples = np.array([[0.8], [1.6]])
    np.testing.assert_allclose(importance_weights(samples, PRIOR, target)[:, 0], [1.0, 0.0])
