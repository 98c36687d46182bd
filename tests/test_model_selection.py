"""Label-free model selection: density ratios, the four scorers, and their use inside GridSearchCV."""

import pickle

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklens import CNNRegressor, MMDRegressor
from sklens.model_selection import (
    DegenerateWeightsWarning,
    DEVScorer,
    DomainStratifiedKFold,
    IWVScorer,
    ReverseValidationScorer,
    SourceR2Scorer,
    density_ratios,
    dev_risk,
    effective_sample_size,
)

MLP = dict(max_epochs=20, lr=1e-2, batch_size=32, random_state=0, module__hidden=(16, 16))
N = 200


def _packed(X_src, y_src, X_tgt):
    X = np.concatenate([X_src, X_tgt]).astype(np.float32)
    return X, np.concatenate([y_src, np.full(len(X_tgt), np.nan)])


def _quadratic(X):
    return X[:, 0] + 0.5 * X[:, 1] ** 2


@pytest.fixture(scope="module")
def same_domains():
    """Tabular source and target from one distribution, with a model fitted in the packed form."""
    rng = np.random.default_rng(0)
    X_src, X_tgt = rng.normal(size=(2, N, 4))
    X, y = _packed(X_src, _quadratic(X_src), X_tgt)
    return X, y, CNNRegressor(**MLP).fit(X, y)


@pytest.fixture(scope="module")
def shifted_domains():
    """The target is shifted along feature 1 (the squared one); labelled target test rows are the oracle."""
    rng = np.random.default_rng(1)
    X_src, X_tgt, X_test = rng.normal(size=(3, N, 4))
    X_tgt[:, 1] += 1.5
    X_test[:, 1] += 1.5
    X, y = _packed(X_src, _quadratic(X_src), X_tgt)
    model = CNNRegressor(**MLP).fit(X, y)
    return X, y, model, X_test.astype(np.float32), _quadratic(X_test)


# ------------------------------------------------------------------------------------ density ratios
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_identical_domains_give_weights_near_one(seed):
    rng = np.random.default_rng(seed)
    weights = density_ratios(rng.normal(size=(150, 5)), rng.normal(size=(150, 5)))
    assert weights.shape == (150,)
    assert abs(weights.mean() - 1) < 0.05
    assert np.abs(weights - 1).max() < 0.3


def test_weights_follow_a_known_shift():
    rng = np.random.default_rng(0)
    src, tgt = rng.normal(size=(2, 300, 5))
    tgt[:, 0] += 1.0
    weights = density_ratios(src, tgt)
    true_log_ratio = src[:, 0] - 0.5  # log N(x; 1, 1) - log N(x; 0, 1)
    assert np.corrcoef(np.log(weights), true_log_ratio)[0, 1] > 0.9
    assert abs(np.mean(weights) - 1) < 0.2


def test_weights_are_clipped_and_degenerate_weights_warn():
    rng = np.random.default_rng(0)
    src, tgt = rng.normal(size=(2, 100, 3))
    tgt[:, 0] += 8.0  # the domains barely overlap
    with pytest.warns(DegenerateWeightsWarning, match="effective sample size"):
        weights = density_ratios(src, tgt, max_ratio=5.0)
    assert weights.max() <= 5.0 and weights.min() >= 0


def test_effective_sample_size():
    assert effective_sample_size(np.ones(10)) == pytest.approx(10)
    assert effective_sample_size(np.r_[1.0, np.zeros(9)]) == pytest.approx(1)


@pytest.mark.parametrize(
    "src, tgt, kwargs, message",
    [
        (np.zeros((20, 3)), np.zeros((20, 4)), {}, "features_tgt has 4"),
        (np.zeros((20, 3)), np.zeros((5, 3)), {}, "at least 10 rows of each domain"),
        (np.zeros(20), np.zeros((20, 3)), {}, r"shape \(n, n_features\)"),
        (np.full((20, 3), np.nan), np.zeros((20, 3)), {}, "NaN or infinite"),
        (np.zeros((20, 3)), np.zeros((20, 3)), {"n_splits": 1}, "n_splits must be at least 2"),
        (np.zeros((20, 3)), np.zeros((20, 3)), {"max_ratio": 0}, "max_ratio must be positive"),
    ],
)
def test_density_ratio_input_errors(src, tgt, kwargs, message):
    with pytest.raises(ValueError, match=message):
        density_ratios(src, tgt, **kwargs)


# ------------------------------------------------------------------------------------ DEV
def test_dev_control_variate_removes_weight_error_for_constant_losses():
    # With a constant loss c the weighted loss is c*w: the control variate cancels any error in the
    # weights' mean and DEV returns c, where the plain weighted mean returns c * mean(w).
    weights = np.array([0.2, 0.5, 3.0, 1.7, 0.1, 2.5])
    assert dev_risk(np.full(6, 4.0), weights) == pytest.approx(4.0)
    assert np.mean(weights * 4.0) != pytest.approx(4.0)


def test_dev_equals_the_source_risk_when_domains_coincide(same_domains):
    X, y, model = same_domains
    labelled = ~np.isnan(y)
    source_mse = np.mean((model.predict(X[labelled]) - y[labelled]) ** 2)
    assert -DEVScorer()(model, X, y) == pytest.approx(source_mse, rel=0.1)
    assert -IWVScorer()(model, X, y) == pytest.approx(source_mse, rel=0.1)
    assert -IWVScorer(self_normalize=False)(model, X, y) == pytest.approx(source_mse, rel=0.1)


def test_weights_on_model_features_correlate_with_the_shift(shifted_domains):
    X, y, model, _, _ = shifted_domains
    labelled = ~np.isnan(y)
    weights = density_ratios(model.transform_features(X[labelled]), model.transform_features(X[~labelled]))
    assert spearmanr(weights, X[labelled, 1]).statistic > 0.5


def test_weighted_scorers_estimate_the_shifted_target_risk_better_than_source_error(shifted_domains):
    X, y, model, X_test, y_test = shifted_domains
    labelled = ~np.isnan(y)
    source_mse = np.mean((model.predict(X[labelled]) - y[labelled]) ** 2)
    target_mse = np.mean((model.predict(X_test) - y_test) ** 2)
    assert target_mse > 2 * source_mse  # the shift makes the target harder: the test has teeth
    for scorer in (IWVScorer(), IWVScorer(self_normalize=False), DEVScorer()):
        estimate = -scorer(model, X, y)
        assert abs(estimate - target_mse) < abs(source_mse - target_mse)


# ------------------------------------------------------------------------------------ reverse validation
def test_reverse_validation_knows_good_from_uninformative_pseudo_labels(same_domains):
    X, y, good = same_domains
    labelled = ~np.isnan(y)
    variance = np.var(y[labelled])
    y_shuffled = y.copy()
    y_shuffled[labelled] = np.random.default_rng(0).permutation(y[labelled])
    uninformative = CNNRegressor(**MLP).fit(X, y_shuffled)
    # Pseudo-labels that carry no information teach the reverse model nothing: its error is about
    # the label variance. A good forward model's round trip is nearly exact.
    assert -ReverseValidationScorer()(uninformative, X, y) > 0.5 * variance
    assert -ReverseValidationScorer()(good, X, y) < 0.05 * variance


# ------------------------------------------------------------------------------------ splitter
@pytest.mark.parametrize("shuffle", [False, True])
def test_domain_stratified_folds_keep_both_domains_in_proportion(shuffle):
    y = np.r_[np.arange(45.0), np.full(15, np.nan)]  # the source rows first
    Y = np.column_stack([y, y])  # several outputs: a target row is NaN in all
    cv = DomainStratifiedKFold(3, shuffle=shuffle, random_state=0 if shuffle else None)
    splits = list(cv.split(np.zeros((60, 2)), Y))
    assert len(splits) == cv.get_n_splits() == 3
    for train, test in splits:
        assert (np.isnan(y[train]).sum(), (~np.isnan(y[train])).sum()) == (10, 30)
        assert (np.isnan(y[test]).sum(), (~np.isnan(y[test])).sum()) == (5, 15)
    np.testing.assert_array_equal(np.sort(np.concatenate([test for _, test in splits])), np.arange(60))


@pytest.mark.parametrize(
    "y, message",
    [
        (
            np.r_[np.arange(10.0), np.full(2, np.nan)],
            "at least 3 rows of each domain.*10 source rows and 2 target",
        ),
        (np.arange(10.0), "at least 3 rows of each domain.*10 source rows and 0 target"),
        (None, "needs y"),
    ],
)
def test_domain_stratified_folds_refuse_a_domain_smaller_than_n_splits(y, message):
    with pytest.raises(ValueError, match=message):
        next(DomainStratifiedKFold(3).split(np.zeros((12, 2)), y))


def _target_rows_seen_in_fit(estimator, X, y) -> int:
    return estimator.n_target_rows_


def test_every_fold_of_a_domain_stratified_grid_search_trains_with_target_rows():
    """A plain KFold on source-first packed data trains a fold on target rows only; the splitter does not."""
    rng = np.random.default_rng(0)
    X_src, X_tgt = rng.normal(size=(21, 2)), rng.normal(size=(42, 2)) + 0.5
    X, y = _packed(X_src, X_src[:, 0], X_tgt)
    model = MMDRegressor(max_epochs=1, lr=1e-3, batch_size=16, random_state=0)
    with pytest.raises(
        ValueError, match="this cross-validation fold have no labelled rows.*DomainStratified"
    ):
        cross_val_score(model, X, y, cv=KFold(3), error_score="raise")
    search = GridSearchCV(
        model,
        {"lambda_da": [0.5, 1.0]},
        scoring={"r2": SourceR2Scorer(), "target_rows_in_fit": _target_rows_seen_in_fit},
        refit="r2",
        cv=DomainStratifiedKFold(3),
        error_score="raise",
    ).fit(X, y)
    for split in range(3):
        np.testing.assert_array_equal(search.cv_results_[f"split{split}_test_target_rows_in_fit"], [28, 28])
    assert np.isfinite(search.cv_results_["mean_test_r2"]).all()


# ------------------------------------------------------------------------------------ GridSearchCV
# 20 rows per domain and fold of a 2-epoch model: the domains separate and the weights degenerate.
@pytest.mark.filterwarnings("ignore::sklens.model_selection.DegenerateWeightsWarning")
def test_every_scorer_inside_grid_search_with_a_pipeline_in_packed_form():
    rng = np.random.default_rng(0)
    X_src = rng.normal(size=(40, 1, 12, 12)).astype(np.float32)
    X_tgt = (1.5 * rng.normal(size=(40, 1, 12, 12))).astype(np.float32)
    X, y = _packed(X_src, X_src[:, 0, 4:8, 4:8].mean(axis=(1, 2)) * 4, X_tgt)
    pipe = make_pipeline(
        FunctionTransformer(np.arcsinh), MMDRegressor(max_epochs=2, batch_size=16, lr=1e-3, random_state=0)
    )
    scoring = {
        "iwv": IWVScorer(),
        "dev": DEVScorer(),
        "reverse": ReverseValidationScorer(),
        "source_r2": SourceR2Scorer(),
    }
    folds = DomainStratifiedKFold(2, shuffle=True, random_state=0)
    search = GridSearchCV(
        pipe, {"mmdregressor__lambda_da": [0.1, 1.4]}, scoring=scoring, refit="dev", cv=folds
    ).fit(X, y)
    for name in scoring:
        scores = search.cv_results_[f"mean_test_{name}"]
        assert scores.shape == (2,) and np.isfinite(scores).all()
    assert (search.cv_results_["mean_test_iwv"] < 0).all()
    assert search.best_estimator_[-1].n_target_rows_ == 40
    # Inside the search each scorer scored what a direct call on the fold scores: the chosen candidate,
    # fitted by hand on the first training fold, gets the first split's scores.
    train, test = next(folds.split(X, y))
    chosen = clone(pipe).set_params(**search.best_params_).fit(X[train], y[train])
    for name, scorer in scoring.items():
        expected = search.cv_results_[f"split0_test_{name}"][search.best_index_]
        assert scorer(chosen, X[test], y[test]) == pytest.approx(expected, rel=1e-6), name


def _with_squares(X):
    return np.hstack([X, X**2])


def test_a_pipeline_is_weighted_on_its_last_step_features_of_the_transformed_rows(same_domains):
    X, y, _ = same_domains
    pipe = make_pipeline(FunctionTransformer(_with_squares), CNNRegressor(**{**MLP, "max_epochs": 3}))
    pipe.fit(X, y)  # the regressor sees 8 columns: untransformed rows would be refused
    src, tgt = ~np.isnan(y), np.isnan(y)
    features = pipe[-1].transform_features(_with_squares(X))
    weights = density_ratios(features[src], features[tgt])
    losses = (pipe.predict(X[src]) - y[src]) ** 2
    assert IWVScorer()(pipe, X, y) == pytest.approx(-np.sum(weights * losses) / np.sum(weights))


@pytest.mark.parametrize(
    "scorer", [IWVScorer(max_ratio=5.0), DEVScorer(n_splits=4), ReverseValidationScorer(), SourceR2Scorer()]
)
def test_scorers_pickle_for_parallel_workers(scorer):
    assert pickle.loads(pickle.dumps(scorer)) == scorer


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("scorer", [IWVScorer(), DEVScorer(), ReverseValidationScorer(), SourceR2Scorer()])
def test_a_fold_without_labelled_rows_is_refused(scorer, same_domains):
    X, y, model = same_domains
    with pytest.raises(ValueError, match="no labelled rows.*DomainStratifiedKFold"):
        scorer(model, X[np.isnan(y)], y[np.isnan(y)])


@pytest.mark.parametrize("scorer", [IWVScorer(), DEVScorer(), ReverseValidationScorer()])
def test_a_fold_without_target_rows_is_refused(scorer, same_domains):
    X, y, model = same_domains
    labelled = ~np.isnan(y)
    with pytest.raises(ValueError, match="no target rows.*packed form.*DomainStratifiedKFold"):
        scorer(model, X[labelled], y[labelled])


def test_source_r2_needs_no_target_rows(same_domains):
    X, y, model = same_domains
    labelled = ~np.isnan(y)
    assert SourceR2Scorer()(model, X[labelled], y[labelled]) == pytest.approx(model.score(X, y))


def test_a_model_without_features_is_refused(same_domains):
    X, y, _ = same_domains
    labelled = ~np.isnan(y)
    ridge = Ridge().fit(X[labelled], y[labelled])
    with pytest.raises(TypeError, match="Ridge has no transform_features"):
        IWVScorer()(ridge, X, y)


def test_the_study_runs_in_fast_mode_and_its_summary_agrees_with_its_candidate_table(capsys, load_script):
    study = load_script("studies/study_model_selection.py")
    summary = study.main(["--fast", "--data", "toy"])
    out = capsys.readouterr().out
    assert "Spearman vs oracle" in out
    # The printed table of candidates: method, lambda_da, lr, oracle R^2 (3 decimals), one score per scorer.
    candidates = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] in study.METHODS and len(cells) == 5 + len(study.SCORERS):
            candidates.append(
                {
                    "choice": f"{cells[0]} lambda_da={cells[1]} lr={cells[2]}",
                    "method": cells[0],
                    "oracle": float(cells[3]),
                    **{name: float(cell) for name, cell in zip(study.SCORERS, cells[4:], strict=False)},
                }
            )
    assert len(candidates) == 4  # DANN and MMD, lambda_da 0.1 and 1
    assert [(row["grid"], row["scorer"]) for row in summary] == [
        (grid, scorer) for grid in ("DANN", "MMD", "DANN+MMD") for scorer in study.SCORERS
    ]
    for row in summary:
        grid = [c for c in candidates if row["grid"] == "DANN+MMD" or c["method"] == row["grid"]]
        chosen = next(c for c in grid if c["choice"] == row["choice"])
        # The selection is the candidate its scorer ranks first (rounding keeps the order, ties aside),
        # reported with that candidate's oracle R^2; the grid's best is the best oracle R^2 of the grid.
        assert chosen[row["scorer"]] == max(c[row["scorer"]] for c in grid), row
        assert row["selected"] == pytest.approx(chosen["oracle"], abs=5e-4)
        assert row["best"] == pytest.approx(max(c["oracle"] for c in grid), abs=5e-4)
        assert row["gap"] == pytest.approx(row["best"] - row["selected"])
