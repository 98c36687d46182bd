"""PriorShiftRegressor: the target's population estimated, predictions corrected to it, training under it."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV

from sklens import CNNRegressor, MMDRegressor, TargetData
from sklens.nn.sampling import PopulationSampler
from sklens.population import Population, PopulationShiftWarning
from sklens.prior_shift import PriorShiftRegressor

EDGES = np.arange(0.5, 3.0001, 0.25)
#: A quick tabular regressor with a distribution: an MLP with the gaussian head.
MODEL = CNNRegressor(
    head="gaussian", max_epochs=25, lr=3e-3, batch_size=64, random_state=0, module__hidden=(32, 32)
)


def lenses(n: int, population: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """θ_E from the population; features: a noisy measurement of θ_E (noise 0.25) and three of noise."""
    rng = np.random.default_rng(seed)
    if population == "uniform":
        theta = rng.uniform(0.5, 3.0, n)
    else:
        theta = np.exp(rng.normal(np.log(1.2), 0.3, 3 * n))
        theta = theta[(theta >= 0.5) & (theta <= 3.0)][:n]
    X = np.column_stack([theta + 0.25 * rng.normal(size=n), rng.normal(size=(n, 3))]).astype(np.float32)
    return X, theta


@pytest.fixture(scope="module")
def shift():
    X, y = lenses(3000, "uniform", 0)
    X_tgt, y_tgt = lenses(3000, "lognormal", 1)
    X_test, y_test = lenses(2000, "lognormal", 2)
    return X, y, X_tgt, y_tgt, X_test, y_test


def rmse(model, X, y) -> float:
    return float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))


@pytest.fixture(scope="module")
def plain(shift):
    """The regressor alone. Its fit does not depend on the unlabelled rows: no adaptation, and a
    tabular network has no domain BatchNorm (the no-shift test checks this, bit for bit)."""
    X, y, X_tgt, *_ = shift
    return clone(MODEL).fit(X, y, X_tgt=X_tgt)


@pytest.fixture(scope="module")
def corrected(shift, plain):
    """The plain model, frozen: PriorShiftRegressor estimates and corrects without training it again."""
    X, y, X_tgt, *_ = shift
    message = r"parameter 0 differs from the simulation's prior .* predictions are corrected to the estimate"
    with pytest.warns(PopulationShiftWarning, match=message):
        model = PriorShiftRegressor(FrozenEstimator(plain), bins=EDGES, support=(0.5, 3.0))
        return model.fit(X, y, X_tgt=X_tgt)


def test_the_target_population_is_estimated_within_0_1_and_the_corrected_predictions_are_better(
    shift, corrected, plain
):
    X, y, X_tgt, y_tgt, X_test, y_test = shift
    truth = Population.from_values(y_tgt, EDGES)
    assert corrected.population_.total_variation(truth) < 0.1
    assert corrected.prior_.total_variation(truth) > 0.4  # the shift it corrects
    assert rmse(corrected, X_test, y_test) < 0.93 * rmse(plain, X_test, y_test)  # measured 0.90
    mean, std = corrected.predict(X_test[:50], return_std=True)
    assert mean.shape == std.shape == (50,) and (std > 0).all()
    assert corrected.sample_posterior(X_test[:5], 7, random_state=0).shape == (7, 5)
    np.testing.assert_array_equal(corrected.predict(X_test[:20]), corrected.predict(X_test[:20]))
    # The frozen model, not trained again:
    np.testing.assert_array_equal(corrected.estimator_.predict(X_test), plain.predict(X_test))


def test_training_under_the_estimate_reweights_the_source_and_also_beats_the_plain_model(
    shift, plain, corrected
):
    """The second training is under the first's estimate, from its first epoch to its last; the first
    training is the plain model's (the same regressor and seed), so the estimate is the corrected
    model's too."""
    X, y, X_tgt, _, X_test, y_test = shift
    with pytest.warns(PopulationShiftWarning, match=r"the regressor was trained under the estimate"):
        adapted = PriorShiftRegressor(MODEL, bins=EDGES, support=(0.5, 3.0), adapt=True)
        adapted.fit(X, y, X_tgt=X_tgt)
    reweighting = dict(adapted.estimator_.callbacks_)["population_reweighting"]
    np.testing.assert_array_equal(reweighting.initial.weights, corrected.population_.weights)
    assert all(p is reweighting.initial for p in reweighting.epoch_populations_)
    assert len(reweighting.epoch_populations_) == MODEL.max_epochs
    assert adapted.population_ is reweighting.initial and adapted.population_.std is not None
    assert rmse(adapted, X_test, y_test) < 0.93 * rmse(plain, X_test, y_test)  # measured 0.91


class ToySimulator:
    """Simulates the toy lenses again with θ_E drawn from a population (uniform within its bins)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = []

    def __call__(self, population, random_state):
        self.calls.append(population)
        rng = np.random.default_rng(100 + random_state)
        bins = rng.choice(len(population.weights), size=self.n, p=population.weights)
        theta = rng.uniform(population.edges[bins], population.edges[bins + 1])
        X = np.column_stack([theta + 0.25 * rng.normal(size=self.n), rng.normal(size=(self.n, 3))])
        return X.astype(np.float32), theta


def test_a_simulator_trains_the_second_regressor_on_a_source_simulated_under_the_estimate(
    shift, plain, corrected
):
    """The simulator gets the first training's estimate (the corrected model's: the same regressor and
    seed); the second regressor is trained on what it returns, whose prior is the estimate, so its
    predictions are not corrected again. It beats the plain model and the correction alone."""
    X, y, X_tgt, _, X_test, y_test = shift
    simulator = ToySimulator(3000)
    with pytest.warns(
        PopulationShiftWarning, match=r"trained again on a source simulated under the estimate"
    ):
        model = PriorShiftRegressor(MODEL, bins=EDGES, support=(0.5, 3.0), adapt=True, simulator=simulator)
        model.fit(X, y, X_tgt=X_tgt)
    [population] = simulator.calls
    np.testing.assert_array_equal(population.weights, corrected.population_.weights)
    assert model.population_ is population and model.training_population_ is population
    assert not model.corrects_
    X_sim, y_sim = ToySimulator(3000)(population, 0)
    again = clone(MODEL).fit(X_sim, y_sim, X_tgt=X_tgt)
    np.testing.assert_array_equal(model.predict(X_test), again.predict(X_test))
    assert rmse(model, X_test, y_test) < 0.93 * rmse(plain, X_test, y_test)
    assert rmse(model, X_test, y_test) < rmse(corrected, X_test, y_test)
    with pytest.raises(ValueError, match="simulator .* needs adapt=True"):
        PriorShiftRegressor(MODEL, simulator=simulator).fit(X, y, X_tgt=X_tgt)
    with pytest.raises(ValueError, match=r"simulator returned 10 images and labels of shape \(9,\)"):
        PriorShiftRegressor(
            MODEL, bins=EDGES, support=(0.5, 3.0), adapt=True, simulator=lambda p, s: (X[:10], y[:9])
        ).fit(X, y, X_tgt=X_tgt)


def test_the_estimate_can_be_refined_during_the_second_training(shift):
    """With ``adapt_start``, each epoch from it on re-estimates the population from the second
    model's posteriors; the estimate is their mean, and the posteriors, trained under a mixture of
    populations, are corrected to it."""
    X, y, X_tgt, _, X_test, _ = shift
    model = clone(MODEL).set_params(max_epochs=4)
    options = dict(bins=EDGES, support=(0.5, 3.0), adapt=True, adapt_start=2, adapt_threshold=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PopulationShiftWarning)
        adapted = PriorShiftRegressor(model, **options).fit(X[:600], y[:600], X_tgt=X_tgt[:600])
    reweighting = dict(adapted.estimator_.callbacks_)["population_reweighting"]
    assert len(adapted.estimator_.history[:, "population_tv"]) == 2  # epochs 2 and 3
    assert len(reweighting.estimates_) == 2 and adapted.population_ is not reweighting.initial
    assert adapted.training_population_.total_variation(adapted.population_) > 0
    assert not np.array_equal(adapted.predict(X_test[:20]), adapted.estimator_.predict(X_test[:20]))


def test_without_a_shift_nothing_changes(shift, plain):
    """This small MLP's posteriors misplace some mass near the prior's edges, so its estimates of an
    unshifted population lie 0.15-0.17 from it (measured); the default thresholds (0.25) sit above that,
    and the shift of the other tests (0.49) far above them. Below ``adapt_threshold`` there is no
    second training."""
    X, y, *_ = shift
    X_tgt, _ = lenses(3000, "uniform", 3)
    X_test, y_test = lenses(2000, "uniform", 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PopulationShiftWarning)
        adapted = PriorShiftRegressor(
            MODEL,
            bins=EDGES,
            support=(0.5, 3.0),
            adapt=True,
        )
        adapted.fit(X, y, X_tgt=X_tgt)
    assert adapted.population_.total_variation(adapted.prior_) < 0.25  # so no second training
    assert adapted.training_population_ is adapted.prior_
    np.testing.assert_array_equal(adapted.estimator_.predict(X_test), plain.predict(X_test))  # same training
    assert abs(adapted.score(X_test, y_test) - plain.score(X_test, y_test)) < 0.002


def test_the_population_sampler_shuffles_as_a_loader_does_until_it_is_reweighted():
    import torch

    sampler = PopulationSampler()
    sampler.reset(50)
    torch.manual_seed(3)
    ours = list(sampler)
    torch.manual_seed(3)
    theirs = list(torch.utils.data.RandomSampler(range(50)))
    assert ours == theirs
    sampler.reweight(np.r_[np.zeros(49), 1.0])
    assert set(sampler) == {49}
    with pytest.raises(ValueError, match="weights must be 50 non-negative finite values"):
        sampler.reweight(np.ones(3))


def test_a_head_without_a_distribution_is_refused_naming_the_heads_that_work(shift):
    X, y, X_tgt, *_ = shift
    with pytest.raises(ValueError, match=r"head='gaussian' or head='flow' \(it has head='point'\)"):
        PriorShiftRegressor(CNNRegressor()).fit(X, y, X_tgt=X_tgt)  # 'auto' is the point head on tables


def test_bad_input_is_refused_before_training(shift):
    X, y, X_tgt, *_ = shift
    with pytest.raises(ValueError, match="give X_tgt"):
        PriorShiftRegressor(MODEL).fit(X, y)
    with pytest.raises(ValueError, match=r"parameter 0: \d+ source labels lie outside the support \[1, 3\]"):
        PriorShiftRegressor(MODEL, support=(1.0, 3.0)).fit(X, y, X_tgt=X_tgt)
    with pytest.raises(ValueError, match="parameter=2, but y has 1 columns"):
        PriorShiftRegressor(MODEL, parameter=2).fit(X, y, X_tgt=X_tgt)
    with pytest.raises(ValueError, match="'n_samples' parameter"):
        PriorShiftRegressor(MODEL, n_samples=1).fit(X, y, X_tgt=X_tgt)
    with pytest.raises(ValueError, match="adapt=True trains the regressor again .* FrozenEstimator"):
        PriorShiftRegressor(FrozenEstimator(MODEL), adapt=True).fit(X, y, X_tgt=X_tgt)
    with pytest.raises(NotFittedError, match="CNNRegressor"):  # frozen before it was trained
        PriorShiftRegressor(FrozenEstimator(MODEL)).fit(X, y, X_tgt=X_tgt)


def test_it_composes_with_clone_pickle_and_a_grid_search(shift, corrected, plain):
    X, y, X_tgt, _, X_test, y_test = shift
    loaded = pickle.loads(pickle.dumps(corrected))
    np.testing.assert_array_equal(loaded.predict(X_test[:10]), corrected.predict(X_test[:10]))
    assert clone(corrected).get_params()["estimator"].estimator is plain  # clone keeps a frozen model
    search = GridSearchCV(
        PriorShiftRegressor(clone(MODEL).set_params(max_epochs=3), bins=EDGES, support=(0.5, 3.0)),
        {"n_samples": [50, 100]},
        cv=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PopulationShiftWarning)
        # 600 rows (the search's composition is checked, not the estimate): X_tgt as long as X, kept
        # whole, not sliced by fold.
        search.fit(X[:600], y[:600], X_tgt=TargetData(X_tgt[:600]))
    assert np.isfinite(search.cv_results_["mean_test_score"]).all() and search.best_estimator_.population_


def test_an_image_regressor_at_its_defaults_is_accepted():
    rng = np.random.default_rng(0)
    X, X_tgt = rng.normal(size=(2, 64, 1, 16, 16)).astype(np.float32)
    y = 1.75 + X.mean(axis=(1, 2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = PriorShiftRegressor(MMDRegressor(max_epochs=1, random_state=0), n_samples=20).fit(
            X, y, X_tgt=X_tgt
        )
    assert model.predict(X[:4]).shape == (4,)
