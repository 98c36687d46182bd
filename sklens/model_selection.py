"""Label-free model selection for domain adaptation.

With real survey data the target domain has no labels, so a search cannot score candidates on target
R^2. The scorers here estimate the target risk from labelled source rows and unlabelled target rows
only. Each is a plain callable ``scorer(estimator, X, y)``, usable as ``GridSearchCV(scoring=...)``
with the packed form: the held-out fold's rows whose ``y`` is NaN are its target rows.
[`DomainStratifiedKFold`][sklens.model_selection.DomainStratifiedKFold] splits the packed form so
that every fold holds both domains.

Every scorer returns a "greater is better" value: a negated risk (mean squared error) for the
label-free scorers, R^2 for [`SourceR2Scorer`][sklens.model_selection.SourceR2Scorer].

References
----------
Sugiyama, Krauledat & Mueller (2007), Covariate shift adaptation by importance weighted cross
validation, JMLR 8. You, Wang, Long, Jordan & Wang (2019), Towards accurate model selection in deep
unsupervised domain adaptation, ICML. Zhong, Fan, Yang, Verscheure & Ren (2010), Cross validation
framework to choose amongst models and datasets for transfer learning, ECML PKDD.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import r2_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklens.domains import split_packed, target_rows

__all__ = [
    "DEVScorer",
    "DegenerateWeightsWarning",
    "DomainStratifiedKFold",
    "IWVScorer",
    "ReverseValidationScorer",
    "SourceR2Scorer",
    "default_domain_classifier",
    "density_ratios",
    "dev_risk",
    "effective_sample_size",
]

_PROBA_EPS = 1e-6
_MIN_ROWS_PER_DOMAIN = 10


class DegenerateWeightsWarning(UserWarning):
    """Importance weights too uneven for a trustworthy risk estimate (few effective rows, many clipped)."""


# ------------------------------------------------------------------------------------ splitter
class DomainStratifiedKFold(StratifiedKFold):
    """K-fold splits of the packed form that keep both domains in every train and test fold.

    The folds are stratified on [`target_rows`][sklens.domains.target_rows], whether a row's ``y`` is
    NaN: each train and test fold holds source and target rows in about the proportion of the whole set.
    A plain ``KFold`` without shuffling on packed data with the source rows first gives folds of one
    domain only, which a domain-adaptive fit or a label-free scorer cannot use.

    Parameters
    ----------
    n_splits : int
        Number of folds, at least 2. Each domain needs at least this many rows.
    shuffle : bool
        Shuffle each domain's rows before splitting them into folds.
    random_state : int, RandomState instance or None
        Seed of the shuffling; used only when ``shuffle`` is True.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.r_[np.arange(6.0), np.full(3, np.nan)]  # 6 source rows, then 3 target rows
    >>> for train, test in DomainStratifiedKFold(3).split(np.zeros((9, 2)), y):
    ...     print(test, np.isnan(y[train]).sum())
    [0 1 6] 2
    [2 3 7] 2
    [4 5 8] 2

    In a search, pass it as ``cv``:
    ``GridSearchCV(MMDRegressor(), grid, cv=DomainStratifiedKFold(3, shuffle=True, random_state=0))``.
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False, random_state=None) -> None:
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)

    def split(self, X, y, groups=None):
        """Generate train and test indices, stratified on the target rows of ``y``.

        Parameters
        ----------
        X : array-like of shape (n, ...)
            Inputs; only their number of rows is used.
        y : array-like of shape (n,) or (n, k)
            Labels of the source rows, NaN for target rows.
        groups : None
            Ignored, for API compatibility.

        Yields
        ------
        train : numpy.ndarray
            Indices of the training rows of the split.
        test : numpy.ndarray
            Indices of the test rows of the split.
        """
        if y is None:
            raise ValueError(
                "DomainStratifiedKFold needs y to tell the domains apart: labels for source rows and NaN "
                "for target rows."
            )
        is_target = target_rows(y)
        n_target = int(is_target.sum())
        n_source = len(is_target) - n_target
        if min(n_source, n_target) < self.n_splits:
            raise ValueError(
                f"DomainStratifiedKFold(n_splits={self.n_splits}) needs at least {self.n_splits} rows of "
                f"each domain so that every fold holds both; y has {n_source} source rows and "
                f"{n_target} target rows (NaN y). Use fewer splits or add rows of the smaller domain."
            )
        return super().split(X, is_target, groups)


# ------------------------------------------------------------------------------------ density ratios
def default_domain_classifier(
    features: np.ndarray, domains: np.ndarray, random_state: int | None = 0
) -> Pipeline:
    """Return the default domain classifier, unfitted: standardised features, L2 logistic regression.

    Its regularisation strength is chosen here, once, by a 3-fold cross-validation of the log-loss on
    all the rows (so that the probabilities, not only the decisions, are good: the density ratio is
    built from them); [`density_ratios`][sklens.model_selection.density_ratios] then refits it fold by fold.

    Parameters
    ----------
    features : array-like of shape (n, n_features)
        Source and target features.
    domains : array-like of shape (n,)
        0 for source rows, 1 for target rows.
    random_state : int or None
        Seed of the solver.

    Returns
    -------
    sklearn.pipeline.Pipeline

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> clf = default_domain_classifier(rng.normal(size=(40, 2)), np.r_[np.zeros(20), np.ones(20)])
    >>> clf[-1].__class__.__name__
    'LogisticRegression'
    """
    search = make_pipeline(
        StandardScaler(),
        LogisticRegressionCV(
            Cs=np.logspace(-4, 1, 6),
            l1_ratios=(0.0,),
            cv=3,
            scoring="neg_log_loss",
            max_iter=1000,
            random_state=random_state,
            use_legacy_attributes=False,
        ),
    ).fit(features, domains)
    C = float(search[-1].C_)
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000, random_state=random_state))


def _check_features(features: np.ndarray, name: str) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"{name} must have shape (n, n_features); got shape {features.shape}.")
    if not np.isfinite(features).all():
        raise ValueError(f"{name} contains NaN or infinite values; the model's features are broken.")
    return features


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of importance weights, ``(sum w)^2 / sum w^2``.

    It equals the number of rows for equal weights and drops towards 1 as a few rows take all the
    weight: a weighted mean over ``n`` rows is then about as noisy as a plain mean over this many.

    Parameters
    ----------
    weights : array-like of shape (n,)
        Non-negative weights.

    Returns
    -------
    float

    Examples
    --------
    >>> effective_sample_size([1.0, 1.0, 1.0, 1.0])
    4.0
    >>> round(effective_sample_size([4.0, 0.0, 0.0, 0.0]), 1)
    1.0
    """
    weights = np.asarray(weights, dtype=np.float64)
    total_sq = float(np.sum(weights**2))
    return float(np.sum(weights) ** 2 / total_sq) if total_sq > 0 else 0.0


def _warn_if_degenerate(ratios: np.ndarray, n_clipped: int, max_ratio: float) -> None:
    n_eff = effective_sample_size(ratios)
    mean = float(np.mean(ratios))
    if n_eff < 0.1 * len(ratios) or n_clipped > 0.1 * len(ratios) or not 0.5 <= mean <= 2.0:
        warnings.warn(
            f"importance weights are degenerate: effective sample size {n_eff:.1f} of {len(ratios)} "
            f"source rows, {n_clipped} ratios clipped at max_ratio={max_ratio:g}, mean ratio {mean:.3g} "
            "(about 1 when the target lies inside the source's support). The domain "
            "classifier separates the domains almost perfectly on these features, so weighted risks "
            "rest on a few rows; treat the score as unreliable.",
            DegenerateWeightsWarning,
            stacklevel=3,
        )


def density_ratios(
    features_src: np.ndarray,
    features_tgt: np.ndarray,
    *,
    classifier: BaseEstimator | None = None,
    n_splits: int = 3,
    max_ratio: float = 20.0,
    random_state: int | None = 0,
) -> np.ndarray:
    """Estimate the density ratio ``p_target(x) / p_source(x)`` at every source row.

    A probabilistic domain classifier learns to tell target rows (class 1) from source rows (class 0);
    by Bayes' rule ``p_t(x) / p_s(x) = (n_s / n_t) * P(1 | x) / P(0 | x)``. The probability of each
    source row comes from a classifier that did not see it (``n_splits``-fold ``cross_val_predict``),
    so a classifier that memorises rows does not inflate the ratios. Probabilities are clipped to
    [1e-6, 1 - 1e-6] and ratios to [0, ``max_ratio``]. A
    [`DegenerateWeightsWarning`][sklens.model_selection.DegenerateWeightsWarning] is issued when the effective
    sample size falls below 10% of the source rows, more than 10% are clipped, or the mean ratio (1 in theory)
    leaves [0.5, 2]: the domains then barely overlap in feature space.

    Parameters
    ----------
    features_src : array-like of shape (n_src, n_features)
        Features of the source rows (for images: a network's learned features, not raw pixels).
    features_tgt : array-like of shape (n_tgt, n_features)
        Features of the target rows.
    classifier : estimator with ``predict_proba``, optional
        The domain classifier, refitted on each fold; by default
        [`default_domain_classifier`][sklens.model_selection.default_domain_classifier].
    n_splits : int
        Folds of the out-of-fold prediction. Each domain needs at least max(n_splits, 10) rows.
    max_ratio : float
        Upper clip of the ratios.
    random_state : int or None
        Seed of the fold assignment and of the default classifier.

    Returns
    -------
    numpy.ndarray of shape (n_src,)
        The ratios; their mean is about 1 when the classifier is calibrated.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> same = density_ratios(rng.normal(size=(200, 3)), rng.normal(size=(200, 3)))
    >>> round(float(same.mean()), 1)
    1.0
    """
    features_src = _check_features(features_src, "features_src")
    features_tgt = _check_features(features_tgt, "features_tgt")
    if features_src.shape[1] != features_tgt.shape[1]:
        raise ValueError(
            f"features_src has {features_src.shape[1]} features but features_tgt has "
            f"{features_tgt.shape[1]}; both must come from the same feature map."
        )
    n_src, n_tgt = len(features_src), len(features_tgt)
    if n_splits < 2:
        raise ValueError(f"n_splits must be at least 2; got {n_splits}.")
    if min(n_src, n_tgt) < max(n_splits, _MIN_ROWS_PER_DOMAIN):
        raise ValueError(
            f"density_ratios needs at least {max(n_splits, _MIN_ROWS_PER_DOMAIN)} rows of each domain; "
            f"got {n_src} source and {n_tgt} target rows."
        )
    if max_ratio <= 0:
        raise ValueError(f"max_ratio must be positive; got {max_ratio}.")
    features = np.vstack([features_src, features_tgt])
    domains = np.r_[np.zeros(n_src, dtype=int), np.ones(n_tgt, dtype=int)]
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
    with threadpool_limits(1):  # small problems: threaded BLAS costs more than it gives (3x on 2 cores)
        if classifier is None:
            classifier = default_domain_classifier(features, domains, random_state)
        proba = cross_val_predict(classifier, features, domains, cv=folds, method="predict_proba")
    proba = proba[:n_src, 1]
    proba = np.clip(proba, _PROBA_EPS, 1 - _PROBA_EPS)
    ratios = (n_src / n_tgt) * proba / (1 - proba)
    n_clipped = int(np.sum(ratios > max_ratio))
    ratios = np.minimum(ratios, max_ratio)
    _warn_if_degenerate(ratios, n_clipped, max_ratio)
    return ratios


def dev_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """Deep Embedded Validation risk: the importance-weighted loss with its control variate.

    With weighted losses ``L_i = w_i l_i``, the weights ``W_i = w_i`` (whose true mean is 1) serve as a
    control variate: ``risk = mean(L) + eta * mean(W) - eta`` with ``eta = -Cov(L, W) / Var(W)``
    (You et al. 2019, Eq. 6). When the weights do not vary, ``eta`` is taken as 0 and the risk is the
    plain weighted mean.

    Parameters
    ----------
    losses : array-like of shape (n,)
        Per-row losses on labelled source rows.
    weights : array-like of shape (n,)
        Their density ratios.

    Returns
    -------
    float

    Examples
    --------
    >>> dev_risk([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    2.0
    """
    losses = np.asarray(losses, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if losses.shape != weights.shape or losses.ndim != 1 or len(losses) < 2:
        raise ValueError(
            f"losses and weights must be 1-D of the same length >= 2; got {losses.shape} and {weights.shape}."
        )
    weighted = weights * losses
    var_w = float(np.var(weights, ddof=1))
    eta = 0.0 if var_w <= 1e-12 else -float(np.cov(weighted, weights, ddof=1)[0, 1]) / var_w
    return float(np.mean(weighted) + eta * np.mean(weights) - eta)


# ------------------------------------------------------------------------------------ fold helpers
def _split_fold(X, y, scorer: str, *, need_target: bool = True):
    """Return (X_src, y_src, X_tgt) of a held-out fold, with errors that say what the fold lacks.

    Target rows are those of [`sklens.domains.target_rows`][sklens.domains.target_rows]; ``y`` is
    checked by [`sklens.domains.split_packed`][sklens.domains.split_packed]; the rows of X are returned
    as given (not converted), because a Pipeline's first step must see what it saw in training.
    """
    if y is None:
        raise ValueError(f"{scorer} needs y: labels for source rows and NaN for target rows.")
    is_target = target_rows(y)
    if is_target.all():
        raise ValueError(
            f"{scorer}: the fold has no labelled rows (every y is NaN); each fold needs labelled source "
            "rows. Split with sklens.model_selection.DomainStratifiedKFold, which keeps both domains "
            "in every fold."
        )
    if need_target and not is_target.any():
        raise ValueError(
            f"{scorer}: the fold has no target rows. Pass the packed form, with the unlabelled target rows "
            "in X and NaN in y, and split with sklens.model_selection.DomainStratifiedKFold so that "
            "every fold holds some."
        )
    split_packed(X, y)  # validates X and y: shapes, infinities
    X = np.asarray(X)
    y = np.asarray(y, dtype=np.float64)
    return X[~is_target], y.reshape(len(y), -1)[~is_target], X[is_target]


def _final_step_and_input(estimator, X):
    """Return the estimator that holds the features and ``X`` as that estimator sees it."""
    if isinstance(estimator, Pipeline):
        return estimator[-1], estimator[:-1].transform(X)
    return estimator, X


def _model_features(estimator, X: np.ndarray) -> np.ndarray:
    final, X_in = _final_step_and_input(estimator, X)
    if not hasattr(final, "transform_features"):
        raise TypeError(
            f"{type(final).__name__} has no transform_features method: importance weights are learned "
            "on the fitted model's features (sklens regressors provide them)."
        )
    return np.asarray(final.transform_features(X_in)).reshape(len(X), -1)


def _squared_errors(estimator, X_src: np.ndarray, y_src: np.ndarray) -> np.ndarray:
    """Per-row squared error, averaged over the outputs."""
    y_pred = np.asarray(estimator.predict(X_src), dtype=np.float64).reshape(y_src.shape)
    if not np.isfinite(y_pred).all():
        raise ValueError("the model predicts NaN or infinite values on the source rows; it cannot be scored.")
    return np.mean((y_pred - y_src) ** 2, axis=1)


# ------------------------------------------------------------------------------------ scorers
@dataclass
class _WeightedScorer:
    classifier: BaseEstimator | None = None
    n_splits: int = 3
    max_ratio: float = 20.0
    random_state: int | None = 0

    def _losses_and_weights(self, estimator, X, y) -> tuple[np.ndarray, np.ndarray]:
        X_src, y_src, X_tgt = _split_fold(X, y, type(self).__name__)
        features_src = _model_features(estimator, X_src)
        features_tgt = _model_features(estimator, X_tgt)
        weights = density_ratios(
            features_src,
            features_tgt,
            classifier=self.classifier,
            n_splits=self.n_splits,
            max_ratio=self.max_ratio,
            random_state=self.random_state,
        )
        return _squared_errors(estimator, X_src, y_src), weights


@dataclass
class IWVScorer(_WeightedScorer):
    """Importance-weighted validation (Sugiyama et al. 2007): minus the density-ratio weighted MSE.

    The target risk ``E_t[l]`` equals ``E_s[w l]`` with ``w = p_t / p_s``. The ratios come from
    [`density_ratios`][sklens.model_selection.density_ratios] on the fitted model's features
    (``transform_features``; for a Pipeline, of its last step after the other steps transformed X), and weight
    the squared errors of the fold's labelled source rows.

    Assumptions: covariate shift in the feature space (``p(y | features)`` is the same in both
    domains) and a support of the target features inside the source's; a calibrated domain classifier.
    When the domains are easy to tell apart the weights degenerate (a few rows carry all the weight;
    see [`DegenerateWeightsWarning`][sklens.model_selection.DegenerateWeightsWarning]) and the estimate
    becomes noisy.

    By default the weighted mean is self-normalised, ``sum(w l) / sum(w)``: slightly biased but of
    lower variance, and it keeps the scale of a loss when the domains barely overlap. The unnormalised
    ``mean(w l)`` of Sugiyama et al. then shrinks towards 0 with the weights, so that the candidate
    whose features separate the domains best (the worst-aligned one) looks best.

    Cost: one feature pass over the fold, one prediction pass over its source rows, and about 20 fits
    of a logistic regression (18 to choose its regularisation, ``n_splits`` for out-of-fold
    probabilities) - seconds for a few thousand rows, small next to training the network.

    Parameters
    ----------
    classifier : estimator with ``predict_proba``, optional
        Domain classifier; by default
        [`default_domain_classifier`][sklens.model_selection.default_domain_classifier].
    n_splits : int
        Folds for out-of-fold domain probabilities.
    max_ratio : float
        Upper clip of the density ratios.
    random_state : int or None
        Seed of the domain classifier's folds.
    self_normalize : bool
        Divide by ``sum(w)`` instead of the number of rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklens import MMDRegressor
    >>> from sklens.model_selection import DomainStratifiedKFold, IWVScorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 4)).astype("float32")
    >>> y = np.where(np.arange(120) < 60, X[:, 0], np.nan)  # the last 60 rows are target rows
    >>> X[60:] += 0.5
    >>> folds = DomainStratifiedKFold(2, shuffle=True, random_state=0)
    >>> search = GridSearchCV(MMDRegressor(max_epochs=2, lr=1e-2, random_state=0), {"lambda_da": [0.1, 1.0]},
    ...                       scoring=IWVScorer(), cv=folds).fit(X, y)
    >>> bool(np.all(search.cv_results_["mean_test_score"] <= 0))
    True
    """

    self_normalize: bool = True

    def __call__(self, estimator, X, y) -> float:
        """Return minus the importance-weighted mean squared error of ``estimator`` on the fold."""
        losses, weights = self._losses_and_weights(estimator, X, y)
        if self.self_normalize:
            return -float(np.sum(weights * losses) / np.sum(weights))
        return -float(np.mean(weights * losses))


@dataclass
class DEVScorer(_WeightedScorer):
    """Deep Embedded Validation (You et al. 2019): minus the IWV risk with a control variate.

    The importance-weighted loss of [`IWVScorer`][sklens.model_selection.IWVScorer] is unbiased but its
    variance grows with the spread of the weights. DEV subtracts the control variate ``eta (mean(w) - 1)``
    (the weights' true mean is 1), with ``eta = -Cov(w l, w) / Var(w)`` chosen to minimise the variance; see
    [`dev_risk`][sklens.model_selection.dev_risk]. When the domains coincide, the weights are about 1 and DEV
    is the source MSE.

    Assumptions and cost: as [`IWVScorer`][sklens.model_selection.IWVScorer] (covariate shift in the learned
    feature space, target support inside the source's); the control variate costs nothing extra. It helps when
    the ratio estimate is noisy but not when it is biased (e.g. clipped).

    Parameters
    ----------
    classifier : estimator with ``predict_proba``, optional
        Domain classifier; by default
        [`default_domain_classifier`][sklens.model_selection.default_domain_classifier].
    n_splits : int
        Folds for out-of-fold domain probabilities.
    max_ratio : float
        Upper clip of the density ratios.
    random_state : int or None
        Seed of the domain classifier's folds.

    Examples
    --------
    >>> import numpy as np
    >>> from sklens import MMDRegressor
    >>> from sklens.model_selection import DEVScorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 4)).astype("float32")
    >>> y = np.where(np.arange(120) < 60, X[:, 0], np.nan)
    >>> model = MMDRegressor(max_epochs=2, lr=1e-2, random_state=0).fit(X, y)
    >>> bool(DEVScorer()(model, X, y) <= 0)
    True
    """

    def __call__(self, estimator, X, y) -> float:
        """Return minus the DEV risk of ``estimator`` on the fold."""
        losses, weights = self._losses_and_weights(estimator, X, y)
        return -dev_risk(losses, weights)


@dataclass
class ReverseValidationScorer:
    """Reverse validation (Zhong et al. 2010): how well the forward model's pseudo-labels teach back.

    The fitted (forward) model labels the fold's target rows. A clone of the estimator, with the same
    hyperparameters, is trained with those target rows and pseudo-labels as its labelled source and
    the fold's labelled source rows as its unlabelled target (the packed form); the score is minus its
    mean squared error on the source rows' true labels. Good pseudo-labels and a good adaptation make
    the round trip accurate.

    Assumptions: the method adapts in both directions about equally well, and the fold has enough
    target rows to train the reverse model. The estimator must accept the packed form (NaN ``y`` for
    target rows), as every sklens regressor and Pipelines ending in one do.

    Cost: one extra fit of the whole estimator per score call, on the fold's target rows - as much
    again as training the candidates on data of that size. With GridSearchCV this is one extra fit per
    candidate and fold (and per training fold with ``return_train_score=True``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklens import MMDRegressor
    >>> from sklens.model_selection import ReverseValidationScorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 4)).astype("float32")
    >>> y = np.where(np.arange(120) < 60, X[:, 0], np.nan)
    >>> model = MMDRegressor(max_epochs=2, lr=1e-2, random_state=0).fit(X, y)
    >>> bool(ReverseValidationScorer()(model, X, y) <= 0)
    True
    """

    def __call__(self, estimator, X, y) -> float:
        """Return minus the source mean squared error of the reverse model trained on the fold."""
        X_src, y_src, X_tgt = _split_fold(X, y, type(self).__name__)
        pseudo = np.asarray(estimator.predict(X_tgt), dtype=np.float64).reshape(len(X_tgt), -1)
        if not np.isfinite(pseudo).all():
            raise ValueError("the forward model predicts NaN or infinite values on the target rows.")
        y_reverse = np.concatenate([pseudo, np.full(y_src.shape, np.nan)])
        if np.asarray(y).ndim == 1:
            y_reverse = y_reverse.ravel()
        reverse = clone(estimator).fit(np.concatenate([X_tgt, X_src]), y_reverse)
        return -float(np.mean(_squared_errors(reverse, X_src, y_src)))


@dataclass
class SourceR2Scorer:
    """The baseline: pooled R^2 on the fold's labelled source rows, target rows ignored.

    It measures the source fit only and cannot see a model that fits the source but fails on the
    target; it is what GridSearchCV's default ``score`` of a sklens regressor gives. It needs no
    target rows. Cost: one prediction pass over the source rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklens import CNNRegressor
    >>> from sklens.model_selection import SourceR2Scorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4)).astype("float32")
    >>> y = np.r_[X[:40, 0], np.full(20, np.nan)]
    >>> model = CNNRegressor(max_epochs=30, lr=1e-2, random_state=0).fit(X, y)
    >>> bool(SourceR2Scorer()(model, X, y) > 0.5)
    True
    """

    def __call__(self, estimator, X, y) -> float:
        """Return the R^2 of ``estimator`` on the fold's labelled rows."""
        X_src, y_src, _ = _split_fold(X, y, type(self).__name__, need_target=False)
        if len(y_src) < 2:
            raise ValueError("SourceR2Scorer: R^2 needs at least 2 labelled rows in the fold.")
        y_pred = np.asarray(estimator.predict(X_src), dtype=np.float64).reshape(y_src.shape)
        return float(r2_score(y_src, y_pred))
