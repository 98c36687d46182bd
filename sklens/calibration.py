"""Recalibration of predictive intervals on labelled held-out data.

A model's predictive width is learnt on its training data; on other data (a held-out split that it
over-fits less, or a survey unlike its simulations) its intervals can be too narrow or too wide.
[`RecalibratedRegressor`][sklens.calibration.RecalibratedRegressor] scales the spread of each
parameter's predictive distribution about its mean by one factor per parameter, chosen so that the
central intervals of a labelled calibration set cover their nominal fractions: sigma scaling (Levi et
al. 2022), one factor per parameter, which a hundred labelled lenses pin down; the monotone map of
Kuleshov et al. 2018 fits every level but needs more. It needs a model with a predictive
distribution (``head='gaussian'`` or ``head='flow'``) and labels of the data it is calibrated on: the
source domain's held-out split, or a few lenses of the survey with measured parameters.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from sklens._validation import as_float_array, check_finite
from sklens.metrics import _sorted_quantiles, calibration_curve

__all__ = ["RecalibratedRegressor", "scale_about_mean", "spread_scales"]

#: Nominal levels whose mean absolute miscalibration the factors minimise: 0.05, 0.10, ..., 0.95.
CALIBRATION_LEVELS = np.linspace(0.05, 0.95, 19)
#: Candidate factors: 801 values evenly spaced in log between 1/10 and 10.
_CANDIDATE_SCALES = np.geomspace(0.1, 10.0, 801)
_SCALES_PER_CHUNK = 32
#: Nominal CDF levels on which a quantile recalibration's map is tabulated.
LEVEL_GRID = np.linspace(0.0, 1.0, 1001)
#: Fewest labelled rows a factor is learnt from; below it the coverage estimates are mostly noise.
MIN_CALIBRATION_ROWS = 20


class RecalibratedRegressor(MetaEstimatorMixin, RegressorMixin, BaseEstimator):
    """A fitted probabilistic regressor whose predictive distribution is recalibrated per parameter.

    ``fit(X, y)`` draws ``n_samples`` samples of each row of a labelled calibration set from the
    wrapped model and learns, for each parameter, one of two maps:

    - ``method='scale'`` (default): the factor ``c`` (between 0.1 and 10) by which scaling every
      sample's distance from its row's mean brings the central intervals closest to their nominal
      coverage: it minimises the mean of ``|coverage - level|`` over the levels 0.05, 0.10, ..., 0.95
      (among equally good factors, the one closest to 1). The model's mean and shape are kept;
      ``predict(X, return_std=True)`` multiplies its standard deviation by ``c``.
    - ``method='quantile'``: that factor, then a monotone map of the scaled distribution's CDF
      levels (Kuleshov et al. 2018): the isotonic fit of the empirical CDF of the calibration set's
      probability integral transforms ``F(y)``, so that every level is covered as often as it says.
      It also fixes a wrong shape (tails too heavy or too light) and needs more labelled rows than the
      factor alone (a few hundred). The factor comes first because a sampled distribution has no
      levels beyond its extreme samples: an over-confident model's ``F(y)`` piles up at 0 and 1,
      where no map can reach. ``return_std`` is the standard deviation of ``n_samples`` recalibrated
      samples.

    ``predict`` is the model's prediction with either method, and ``sample_posterior`` maps each of
    the model's samples within its row (distances from the mean scaled, or levels mapped), which keeps
    each sample's rank, so the dependence between parameters is the model's.

    The model is not refitted: it must be fitted already (wrap it in
    ``sklearn.frozen.FrozenEstimator`` to ``clone`` this estimator without losing it). Calibration
    holds for data like the calibration set: a factor learnt on the source domain's held-out split
    removes the model's over-fitting but not the domain shift's extra error (see Results,
    "Recalibration"). With domain-specific BatchNorm, calibrate on source images with the model's
    ``predict_domain='source'``, then predict the survey with
    ``set_params(estimator__predict_domain='target')`` (for a model wrapped in ``FrozenEstimator``,
    which refuses inner parameters, call the model's own ``set_params``: the wrapper holds the model
    itself, not a copy).

    Parameters
    ----------
    estimator : fitted regressor
        A model with ``sample_posterior(X, n_samples, random_state)`` and
        ``predict(X, return_std=True)``: an sklens regressor with ``head='gaussian'`` or
        ``head='flow'`` (any number of members), or a ``FrozenEstimator`` of one.
    method : {'scale', 'quantile'}
        One factor on the spread per parameter, or a monotone map of the CDF levels.
    n_samples : int
        Samples per row drawn to learn the maps (and, for ``'quantile'``, to estimate
        ``return_std``); at least 2.
    random_state : int, numpy RandomState or None
        Seeds those draws.

    Attributes
    ----------
    scale_ : ndarray of shape (k,)
        The factor of each parameter (> 1: the model was over-confident on the calibration set).
    level_maps_ : ndarray of shape (k, 1001)
        ``method='quantile'``: the recalibrated CDF level of each parameter at the scaled
        distribution's levels ``LEVEL_GRID`` (0, 0.001, ..., 1); near the identity when the factor
        alone calibrates.
    miscalibration_before_ : ndarray of shape (k,)
        Mean absolute miscalibration over the levels 0.05, ..., 0.95 on the calibration set, before.
    miscalibration_after_ : ndarray of shape (k,)
        The same after recalibration (measured on the calibration set itself, so optimistic).
    n_outputs_ : int
        Number of parameters k.

    Examples
    --------
    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklens import DANNRegressor
    >>> from sklens.calibration import RecalibratedRegressor
    >>> model = DANNRegressor(head="flow", n_members=3).fit(X_src, y_src, X_tgt)  # doctest: +SKIP
    >>> calibrated = RecalibratedRegressor(FrozenEstimator(model)).fit(X_val, y_val)  # doctest: +SKIP
    >>> mean, std = calibrated.predict(X_survey, return_std=True)  # doctest: +SKIP
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["sample_posterior", "predict"])],
        "method": [StrOptions({"scale", "quantile"})],
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, *, method: str = "scale", n_samples: int = 500, random_state=0) -> None:
        self.estimator = estimator
        self.method = method
        self.n_samples = n_samples
        self.random_state = random_state

    def fit(self, X, y) -> RecalibratedRegressor:
        """Learn each parameter's factor from the labelled calibration set ``(X, y)``.

        Parameters
        ----------
        X : array-like
            Calibration inputs, as the model's ``predict`` takes them.
        y : array-like of shape (n,) or (n, k)
            Their true parameters, in the units the model was fitted on; at least
            ``MIN_CALIBRATION_ROWS`` (20) finite rows.

        Returns
        -------
        RecalibratedRegressor
            self.

        Raises
        ------
        ValueError
            If ``y`` has NaN or too few rows, or its shape does not match the model's output.
        sklearn.exceptions.NotFittedError
            If the model is not fitted.
        """
        self._validate_params()
        _check_fitted_model(self.estimator)
        y = _check_calibration_targets(y)
        draws = self.estimator.sample_posterior(X, self.n_samples, random_state=self.random_state)
        samples = np.asarray(draws)
        if samples.ndim < 2 or samples.shape[1] != len(y) or samples[0, 0].size != y.shape[1]:
            raise ValueError(
                f"y has {len(y)} rows of {y.shape[1]} parameters but the model's samples for X have "
                f"shape {samples.shape} (n_samples, rows[, parameters]); X and y must be one "
                f"calibration set of the parameters the model predicts."
            )
        samples = samples.astype(np.float64).reshape(self.n_samples, len(y), y.shape[1])
        self.n_outputs_ = y.shape[1]
        self.scale_ = spread_scales(samples, y)
        if self.method == "quantile":  # on scaled samples, whose levels do not pile up at 0 and 1
            self.level_maps_ = _level_maps(scale_about_mean(samples, self.scale_), y)
        self.miscalibration_before_ = _miscalibration(samples, y)
        self.miscalibration_after_ = _miscalibration(self._recalibrate(samples), y)
        return self

    def predict(self, X, return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The model's prediction, and with ``return_std`` the recalibrated standard deviation.

        Parameters
        ----------
        X : array-like
            Inputs, as the model's ``predict`` takes them.
        return_std : bool
            Also return the recalibrated standard deviation.

        Returns
        -------
        y_pred : numpy.ndarray
            The model's prediction, of its shape.
        y_std : numpy.ndarray
            With ``return_std``: the standard deviation, of the same shape.
        """
        check_is_fitted(self, "n_outputs_")
        if not return_std:
            return self.estimator.predict(X)
        if self.method == "quantile":
            std = self.sample_posterior(X, self.n_samples, random_state=self.random_state).std(axis=0)
            return self.estimator.predict(X), std
        mean, std = self.estimator.predict(X, return_std=True)
        return mean, std * (float(self.scale_[0]) if self.n_outputs_ == 1 else self.scale_)

    def sample_posterior(self, X, n_samples: int, random_state=None) -> np.ndarray:
        """The model's samples, each mapped within its row (distance from the mean scaled, or level mapped).

        Parameters
        ----------
        X : array-like
            Inputs, as the model's ``predict`` takes them.
        n_samples : int
            Samples per row (at least 2, so that a row has a spread to scale).
        random_state : int, numpy RandomState or None
            Seeds the model's draws.

        Returns
        -------
        numpy.ndarray
            The model's ``sample_posterior`` shape: (n_samples, n, k), or without the parameter or row
            axis as the model returns it.
        """
        check_is_fitted(self, "n_outputs_")
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 2:
            raise ValueError(
                f"n_samples must be an integer >= 2 (a spread to recalibrate); got {n_samples!r}."
            )
        samples = np.asarray(self.estimator.sample_posterior(X, n_samples, random_state=random_state))
        rows = samples.astype(np.float64).reshape(n_samples, -1, self.n_outputs_)
        return self._recalibrate(rows).reshape(samples.shape)

    def _recalibrate(self, samples: np.ndarray) -> np.ndarray:
        """Map samples of shape (n_samples, n, k) within each row and parameter."""
        scaled = scale_about_mean(samples, self.scale_)
        return scaled if self.method == "scale" else _map_levels(scaled, self.level_maps_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


def _check_fitted_model(estimator) -> None:
    try:
        check_is_fitted(estimator)
    except NotFittedError as exc:
        raise NotFittedError(
            f"RecalibratedRegressor rescales a fitted model and does not fit it: fit the "
            f"{type(estimator).__name__} first (after clone, wrap the fitted model in "
            f"sklearn.frozen.FrozenEstimator so that clone keeps it)."
        ) from exc


def _check_calibration_targets(y) -> np.ndarray:
    """``y`` as a finite (n, k) float64 array of at least ``MIN_CALIBRATION_ROWS`` rows."""
    y = as_float_array(y, "y").astype(np.float64)
    if y.ndim not in (1, 2) or y.size == 0:
        raise ValueError(f"y must have shape (n,) or (n, k); got shape {y.shape}.")
    check_finite(y, "y")
    y = y.reshape(len(y), -1)
    if len(y) < MIN_CALIBRATION_ROWS:
        raise ValueError(
            f"recalibration needs at least {MIN_CALIBRATION_ROWS} labelled rows; got {len(y)} "
            f"(coverage measured on fewer is mostly noise)."
        )
    return y


def _coverage_by_scale(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coverage of the central intervals at ``CALIBRATION_LEVELS`` for every candidate factor.

    Scaling samples about their mean by ``c > 0`` scales their quantiles the same way (numpy's
    linear interpolation commutes with it), so the quantiles are computed once.
    """
    mean, ordered = samples.mean(axis=0), np.sort(samples, axis=0)
    lower = _sorted_quantiles(ordered, (1 - CALIBRATION_LEVELS) / 2) - mean  # (n_levels, n, k)
    upper = _sorted_quantiles(ordered, (1 + CALIBRATION_LEVELS) / 2) - mean
    offset = y - mean
    coverage = np.empty((len(_CANDIDATE_SCALES), len(CALIBRATION_LEVELS), y.shape[1]))
    for start in range(0, len(_CANDIDATE_SCALES), _SCALES_PER_CHUNK):  # bounds the boolean array's memory
        scales = _CANDIDATE_SCALES[start : start + _SCALES_PER_CHUNK, None, None, None]
        inside = (scales * lower <= offset) & (offset <= scales * upper)
        coverage[start : start + _SCALES_PER_CHUNK] = inside.mean(axis=2)
    return coverage


def scale_about_mean(samples: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Scale each row's samples (n_samples, n, k) about their mean by each parameter's ``scale`` (k,)."""
    mean = samples.mean(axis=0, keepdims=True)
    return mean + (samples - mean) * scale


def spread_scales(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per parameter, the factor of the spread about the mean that calibrates ``samples`` on ``y``.

    Among 801 factors between 0.1 and 10, the one whose scaled samples' central intervals at 0.05,
    0.10, ..., 0.95 cover ``y`` closest to their nominal shares (the least mean absolute
    miscalibration); among ties, the closest to 1.

    Parameters
    ----------
    samples : numpy.ndarray of shape (n_samples, n, k)
        Draws from each row's predictive distribution.
    y : numpy.ndarray of shape (n, k)
        The rows' true parameters.

    Returns
    -------
    numpy.ndarray of shape (k,)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=(400, 1)) * 2.0  # twice the spread the samples say
    >>> samples = rng.normal(size=(300, 400, 1))
    >>> float(spread_scales(samples, y)[0].round(1))
    2.0
    """
    coverage = _coverage_by_scale(samples, y)  # (n_scales, n_levels, k)
    miscalibration = np.abs(coverage - CALIBRATION_LEVELS[:, None]).mean(axis=1)  # (n_scales, k)
    distance_from_one = np.abs(np.log(_CANDIDATE_SCALES))[:, None]
    is_best = miscalibration <= miscalibration.min(axis=0) + 1e-12
    return _CANDIDATE_SCALES[np.argmin(np.where(is_best, distance_from_one, np.inf), axis=0)]


def _level_maps(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per parameter, the isotonic fit of the calibration set's PIT values to their empirical CDF,
    tabulated on ``LEVEL_GRID``: (k, len(LEVEL_GRID))."""
    pit = (samples < y).mean(axis=0) + 0.5 * (samples == y).mean(axis=0)  # (n, k), ties split
    empirical = np.arange(1, len(y) + 1) / len(y)
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    return np.stack(
        [isotonic.fit(np.sort(pit[:, j]), empirical).predict(LEVEL_GRID) for j in range(y.shape[1])]
    )


def _map_levels(samples: np.ndarray, level_maps: np.ndarray) -> np.ndarray:
    """Move each sample from its level u within its row to the model's quantile at ``R^-1(u)``.

    ``R`` is the recalibrated CDF level (``level_maps``); the samples of a row then have the
    recalibrated distribution, and each keeps its rank.
    """
    n_samples = len(samples)
    ordered = np.sort(samples, axis=0)
    levels = (np.argsort(np.argsort(samples, axis=0), axis=0) + 0.5) / n_samples
    for j, level_map in enumerate(level_maps):  # strictly increasing, so that it can be inverted
        increasing = np.maximum.accumulate(level_map) + 1e-9 * LEVEL_GRID
        levels[..., j] = np.interp(levels[..., j], increasing, LEVEL_GRID)
    return _sorted_quantiles(ordered, levels)


def _miscalibration(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    return calibration_curve(y, samples=samples, levels=CALIBRATION_LEVELS).miscalibration
