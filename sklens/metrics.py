"""Metrics for sklens estimators: rotation invariance of lens finders, and calibration and proper
scores of probabilistic predictions of several parameters (Gaussian or posterior samples)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.stats import norm

__all__ = [
    "CalibrationCurve",
    "RotationSpread",
    "calibration_curve",
    "gaussian_crps",
    "gaussian_nll",
    "interval_coverage",
    "rotation_spread",
    "rotation_std",
    "sample_crps",
    "sample_nll",
]


class RotationSpread(NamedTuple):
    """Spread of a classifier's probability over the four 90-degree rotations of each image.

    Attributes
    ----------
    mean : float
        Mean over images of the standard deviation (``ddof=0``) of the four probabilities.
    max : float
        Largest such standard deviation.
    """

    mean: float
    max: float


def rotation_std(estimator, X) -> np.ndarray:
    """Per-image standard deviation of a classifier's probability over the four 90-degree rotations.

    Each image is predicted at 0, 90, 180 and 270 degrees (rotating the last two axes) and the
    standard deviation (``ddof=0``) of the four probabilities of the positive class
    (``predict_proba(X)[:, 1]``) is returned. An exactly invariant model gives zeros.

    Parameters
    ----------
    estimator : classifier
        Fitted estimator (or pipeline) with ``predict_proba``.
    X : array-like of shape (n, C, S, S) or (n, S, S)
        Square images.

    Returns
    -------
    ndarray of shape (n,)
        The standard deviation for each image, in probability units.

    Examples
    --------
    >>> from sklens.metrics import rotation_std
    >>> rotation_std(clf, X_test).shape  # doctest: +SKIP
    (300,)
    """
    images = np.asarray(X)
    if images.ndim < 3 or images.shape[-1] != images.shape[-2]:
        raise ValueError(
            f"rotation metrics need a batch of square images (n, ..., S, S); got shape {images.shape}."
        )
    probabilities = np.stack(
        [
            np.asarray(estimator.predict_proba(np.rot90(images, k, axes=(-2, -1)).copy()))[:, 1]
            for k in range(4)
        ]
    )
    return probabilities.std(axis=0)


def rotation_spread(estimator, X) -> RotationSpread:
    """How much a classifier's probability changes when the images are rotated by 90 degrees.

    The mean and maximum over images of [`rotation_std`][sklens.metrics.rotation_std]. Ivashkov (2022)
    measured 4% on average and up to 30% for the plain CNN; an exactly invariant model gives 0.

    Parameters
    ----------
    estimator : classifier
        Fitted estimator (or pipeline) with ``predict_proba``.
    X : array-like of shape (n, C, S, S) or (n, S, S)
        Square images.

    Returns
    -------
    RotationSpread
        Named tuple ``(mean, max)`` of the per-image standard deviations, in probability units.

    Examples
    --------
    >>> from sklens.metrics import rotation_spread
    >>> rotation_spread(clf, X_test)  # doctest: +SKIP
    RotationSpread(mean=0.0, max=0.0)
    """
    spread = rotation_std(estimator, X)
    return RotationSpread(mean=float(spread.mean()), max=float(spread.max()))


class CalibrationCurve(NamedTuple):
    """Expected-coverage curve of probabilistic predictions, per parameter.

    Attributes
    ----------
    levels : ndarray of shape (n_levels,)
        Nominal coverage of the central intervals.
    coverage : ndarray of shape (n_levels, k) or (n_levels,)
        Fraction of the true values inside the central interval at each level, per parameter
        (1-D for a 1-D ``y_true``).
    miscalibration : ndarray of shape (k,) or float
        Mean absolute miscalibration per parameter: the mean over ``levels`` of
        ``|coverage - levels|``. With evenly spaced levels over (0, 1) it approximates the area
        between the curve and the diagonal; 0 is perfect calibration.
    """

    levels: np.ndarray
    coverage: np.ndarray
    miscalibration: np.ndarray | float


class _Predictive(NamedTuple):
    """Validated predictions: every array two-dimensional over (row, parameter)."""

    y: np.ndarray  # (n, k)
    mean: np.ndarray | None  # (n, k)
    std: np.ndarray | None  # (n, k)
    samples: np.ndarray | None  # (m, n, k)
    one_d: bool  # y_true was 1-D: drop the parameter axis of the results


def _finite_array(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    n_bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
    if n_bad:
        raise ValueError(f"{name} (shape {arr.shape}) contains {n_bad} NaN or infinite values.")
    return arr


def _check_predictive(y_true, y_mean=None, y_std=None, samples=None) -> _Predictive:
    """Validate ``y_true`` and one predictive form (Gaussian or samples) and make them (n, k)."""
    y = _finite_array(y_true, "y_true")
    if y.ndim not in (1, 2) or y.size == 0:
        raise ValueError(f"y_true must have shape (n,) or (n, k) with n, k >= 1; got shape {y.shape}.")
    gaussian = y_mean is not None or y_std is not None
    if gaussian == (samples is not None):
        raise ValueError(
            "give either y_mean and y_std (a Gaussian predictive distribution) or samples "
            "(posterior samples), not both and not neither."
        )
    one_d = y.ndim == 1
    as_2d = (lambda a: a[..., None]) if one_d else (lambda a: a)
    if not gaussian:
        draws = _finite_array(samples, "samples")
        if draws.shape[1:] != y.shape or len(draws) < 2:
            raise ValueError(
                f"samples must have shape (n_samples >= 2, *y_true.shape) = (n_samples, "
                f"{', '.join(map(str, y.shape))}); got shape {draws.shape}."
            )
        return _Predictive(as_2d(y), None, None, as_2d(draws), one_d)
    if y_mean is None or y_std is None:
        raise ValueError("a Gaussian predictive distribution needs both y_mean and y_std.")
    mean, std = _finite_array(y_mean, "y_mean"), _finite_array(y_std, "y_std")
    for name, arr in (("y_mean", mean), ("y_std", std)):
        if arr.shape != y.shape:
            raise ValueError(f"{name} must have the shape of y_true, {y.shape}; got shape {arr.shape}.")
    if np.any(std <= 0):
        raise ValueError(f"y_std must be positive; {int(np.sum(std <= 0))} values are <= 0.")
    return _Predictive(as_2d(y), as_2d(mean), as_2d(std), None, one_d)


def _check_levels(levels) -> np.ndarray:
    arr = np.atleast_1d(_finite_array(levels, "levels"))
    if arr.ndim != 1 or arr.size == 0 or np.any((arr <= 0) | (arr >= 1)):
        raise ValueError(f"levels must be a 1-D sequence of values in (0, 1); got {levels!r}.")
    return arr


def _per_parameter(values: np.ndarray, one_d: bool):
    """Drop the parameter axis (last) for 1-D input; a 0-d result becomes a float."""
    if not one_d:
        return values
    values = values[..., 0]
    return float(values) if values.ndim == 0 else values


def _sorted_quantiles(draws: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(draws, q, axis=0)`` (linear interpolation) of samples sorted along axis 0.

    One sort serves every level: ``np.quantile`` with 198 levels takes ~15x longer on 500 x 10,000 x 5.
    ``q`` is 1-D (the same levels for every row and parameter; the result has shape
    ``(len(q), *draws.shape[1:])``) or has the shape of ``draws`` but along its first axis (a level per
    row and parameter; the result has the shape of ``q``).
    """
    position = np.asarray(q) * (len(draws) - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, len(draws) - 1)
    fraction = position - below
    if position.ndim == 1:  # whole slabs per level: plain indexing, much faster than a gather
        fraction = fraction.reshape(-1, *[1] * (draws.ndim - 1))
        return draws[below] + fraction * (draws[above] - draws[below])
    low, high = np.take_along_axis(draws, below, axis=0), np.take_along_axis(draws, above, axis=0)
    return low + fraction * (high - low)


def _coverage(pred: _Predictive, levels: np.ndarray) -> np.ndarray:
    """Fraction of rows inside the central interval at each level: (n_levels, n, k) -> (n_levels, k)."""
    if pred.samples is None:
        half_width = norm.ppf(0.5 + levels / 2)[:, None, None]
        inside = np.abs(pred.y - pred.mean) <= half_width * pred.std
    else:
        draws = np.sort(pred.samples, axis=0)
        lower, upper = _sorted_quantiles(draws, (1 - levels) / 2), _sorted_quantiles(draws, (1 + levels) / 2)
        inside = (lower <= pred.y) & (pred.y <= upper)
    return inside.mean(axis=1)


def interval_coverage(
    y_true,
    *,
    y_mean=None,
    y_std=None,
    samples=None,
    levels: Sequence[float] = (0.68, 0.95),
) -> np.ndarray:
    """Empirical coverage of central predictive intervals, per parameter.

    Give either a Gaussian predictive distribution (``y_mean`` and ``y_std``: the interval at level
    ``p`` is ``y_mean +- z * y_std`` with ``z = norm.ppf((1 + p) / 2)``) or posterior ``samples``
    (the interval between the ``(1 - p) / 2`` and ``(1 + p) / 2`` sample quantiles, numpy's linear
    interpolation). Calibrated predictions cover a fraction ``p`` of the true values, within the
    binomial error ``sqrt(p (1 - p) / n)``; over-confident ones cover less.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, k)
        True values of k parameters.
    y_mean : array-like of the shape of ``y_true``, optional
        Predictive means.
    y_std : array-like of the shape of ``y_true``, optional
        Predictive standard deviations, all positive.
    samples : array-like of shape (n_samples, *y_true.shape), optional
        Posterior samples (at least 2 per row).
    levels : sequence of float
        Nominal coverages, each in (0, 1).

    Returns
    -------
    ndarray of shape (n_levels, k), or (n_levels,) for a 1-D ``y_true``
        The fraction of rows whose true value lies in the interval (bounds included).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=(20_000, 2))
    >>> interval_coverage(y, y_mean=np.zeros_like(y), y_std=np.ones_like(y)).round(2)
    array([[0.68, 0.68],
           [0.95, 0.95]])
    """
    pred = _check_predictive(y_true, y_mean, y_std, samples)
    return _per_parameter(_coverage(pred, _check_levels(levels)), pred.one_d)


def calibration_curve(
    y_true,
    *,
    y_mean=None,
    y_std=None,
    samples=None,
    levels: Sequence[float] | None = None,
) -> CalibrationCurve:
    """Expected-coverage curve: empirical against nominal coverage of central intervals.

    The coverage at each level is that of [`interval_coverage`][sklens.metrics.interval_coverage];
    a calibrated model lies on the diagonal, an over-confident one below it and an under-confident
    one above it. Draw it with [`plot_calibration`][sklens.plotting.plot_calibration].

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, k)
        True values of k parameters.
    y_mean : array-like of the shape of ``y_true``, optional
        Predictive means.
    y_std : array-like of the shape of ``y_true``, optional
        Predictive standard deviations, all positive.
    samples : array-like of shape (n_samples, *y_true.shape), optional
        Posterior samples (at least 2 per row).
    levels : sequence of float, optional
        Nominal coverages, each in (0, 1); by default the 99 levels 0.01, 0.02, ..., 0.99.

    Returns
    -------
    CalibrationCurve
        Named tuple ``(levels, coverage, miscalibration)``; ``miscalibration`` is the mean over
        the levels of ``|coverage - levels|``, per parameter.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=20_000)
    >>> curve = calibration_curve(y, y_mean=np.zeros_like(y), y_std=np.full_like(y, 0.5))
    >>> curve.coverage.shape, curve.miscalibration > 0.1  # over-confident: std halved
    ((99,), True)
    """
    pred = _check_predictive(y_true, y_mean, y_std, samples)
    nominal = np.linspace(0.01, 0.99, 99) if levels is None else _check_levels(levels)
    coverage = _coverage(pred, nominal)
    miscalibration = np.abs(coverage - nominal[:, None]).mean(axis=0)
    return CalibrationCurve(
        nominal, _per_parameter(coverage, pred.one_d), _per_parameter(miscalibration, pred.one_d)
    )


def gaussian_nll(y_true, y_mean, y_std) -> np.ndarray | float:
    """Mean negative log-likelihood of the true values under Gaussian predictions, per parameter.

    ``0.5 log(2 pi y_std^2) + (y_true - y_mean)^2 / (2 y_std^2)``, averaged over rows (natural log;
    lower is better).

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, k)
        True values of k parameters.
    y_mean : array-like of the shape of ``y_true``
        Predictive means.
    y_std : array-like of the shape of ``y_true``
        Predictive standard deviations, all positive.

    Returns
    -------
    ndarray of shape (k,), or float for a 1-D ``y_true``

    Examples
    --------
    >>> round(gaussian_nll([0.0, 0.0], [0.0, 0.0], [1.0, 1.0]), 4)  # 0.5 log(2 pi)
    0.9189
    """
    pred = _check_predictive(y_true, y_mean=y_mean, y_std=y_std)
    z = (pred.y - pred.mean) / pred.std
    nll = 0.5 * np.log(2 * np.pi) + np.log(pred.std) + 0.5 * z**2
    return _per_parameter(nll.mean(axis=0), pred.one_d)


def gaussian_crps(y_true, y_mean, y_std) -> np.ndarray | float:
    """Mean continuous ranked probability score of Gaussian predictions, per parameter.

    The closed form of Gneiting & Raftery (2007), ``y_std * (z (2 Phi(z) - 1) + 2 phi(z) -
    1 / sqrt(pi))`` with ``z = (y_true - y_mean) / y_std``, averaged over rows. In the units of
    ``y_true``; lower is better; it reduces to the absolute error as ``y_std`` goes to 0.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, k)
        True values of k parameters.
    y_mean : array-like of the shape of ``y_true``
        Predictive means.
    y_std : array-like of the shape of ``y_true``
        Predictive standard deviations, all positive.

    Returns
    -------
    ndarray of shape (k,), or float for a 1-D ``y_true``

    Examples
    --------
    >>> round(gaussian_crps([0.0], [0.0], [1.0]), 4)  # (sqrt(2) - 1) / sqrt(pi)
    0.2337
    """
    pred = _check_predictive(y_true, y_mean=y_mean, y_std=y_std)
    z = (pred.y - pred.mean) / pred.std
    crps = pred.std * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
    return _per_parameter(crps.mean(axis=0), pred.one_d)


def sample_crps(y_true, samples) -> np.ndarray | float:
    """Mean continuous ranked probability score of posterior samples, per parameter.

    The energy form ``E|X - y| - 0.5 E|X - X'|`` over the m samples of each row, with
    ``E|X - X'| = 2 / m^2 sum_i (2 i - m - 1) x_(i)`` over the sorted samples (all m^2 pairs, as
    ``properscoring.crps_ensemble`` does; O(m log m) per row), averaged over rows. It approaches
    [`gaussian_crps`][sklens.metrics.gaussian_crps] for many Gaussian samples.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, k)
        True values of k parameters.
    samples : array-like of shape (n_samples, *y_true.shape)
        Posterior samples (at least 2 per row).

    Returns
    -------
    ndarray of shape (k,), or float for a 1-D ``y_true``

    Examples
    --------
    >>> round(sample_crps([0.0], [[-1.0], [1.0]]), 4)  # 1 - 0.5 * 1
    0.5
    """
    pred = _check_predictive(y_true, samples=samples)
    draws = np.sort(pred.samples, axis=0)
    m = len(draws)
    weights = 2.0 * np.arange(1, m + 1) - m - 1
    spread = 2 / m**2 * np.tensordot(weights, draws, axes=1)
    distance = draws - pred.y
    crps = np.abs(distance, out=distance).mean(axis=0) - 0.5 * spread
    return _per_parameter(crps.mean(axis=0), pred.one_d)


def sample_nll(y_true, samples) -> np.ndarray | float:
    """Mean negative log-likelihood of the true values under a KDE of posterior samples, per parameter.

    Each row's density of each parameter is a one-dimensional Gaussian kernel density estimate of
    its m samples with Scott's bandwidth, ``m^(-1/5)`` times their standard deviation
    (``ddof=1``), as ``scipy.stats.gaussian_kde`` on that parameter alone; the parameters are
    treated separately (no joint density). Averaged over rows; natural log; lower is better.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, k)
        True values of k parameters.
    samples : array-like of shape (n_samples, *y_true.shape)
        Posterior samples (at least 2 per row, not all equal).

    Returns
    -------
    ndarray of shape (k,), or float for a 1-D ``y_true``

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y, draws = rng.normal(size=1000), rng.normal(size=(500, 1000))
    >>> round(sample_nll(y, draws), 2), round(gaussian_nll(y, np.zeros(1000), np.ones(1000)), 2)
    (1.42, 1.4)
    """
    pred = _check_predictive(y_true, samples=samples)
    m = len(pred.samples)
    bandwidth = m ** (-1 / 5) * pred.samples.std(axis=0, ddof=1)
    if np.any(bandwidth == 0):
        raise ValueError(
            f"samples must vary within each row and parameter for a KDE; {int(np.sum(bandwidth == 0))} "
            "(row, parameter) pairs have identical samples."
        )
    log_kernel = pred.y - pred.samples
    log_kernel /= bandwidth
    log_kernel **= 2
    log_kernel *= -0.5  # in place: scipy's logsumexp is ~8x slower on (500, 10000, 5)
    peak = log_kernel.max(axis=0)
    np.exp(log_kernel - peak, out=log_kernel)
    log_density = peak + np.log(log_kernel.sum(axis=0) / (m * bandwidth)) - 0.5 * np.log(2 * np.pi)
    return _per_parameter(-log_density.mean(axis=0), pred.one_d)
