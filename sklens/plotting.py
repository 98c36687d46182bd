"""Plots of results: regression (predicted against true values with fractional residuals), the
calibration of probabilistic predictions, and lens finding (ROC curves and rotation spread).

Requires matplotlib (``pip install "sklens[plot]"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from sklens._optional import import_optional

if TYPE_CHECKING:
    from sklens.metrics import CalibrationCurve


def _require_matplotlib():
    matplotlib = import_optional("matplotlib", "plot", "sklens.plotting")
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def density_colours(
    x: np.ndarray, y: np.ndarray, max_points: int = 2000, random_state: int = 0
) -> np.ndarray:
    """Gaussian-KDE density of each point (x, y), for colouring a scatter plot.

    The KDE is fitted on at most ``max_points`` points, so colouring 10,000 points stays fast.
    """
    from scipy.stats import gaussian_kde

    points = np.vstack([x, y])
    if points.shape[1] < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.ones(points.shape[1])
    rng = np.random.default_rng(random_state)
    fit_on = points[:, rng.permutation(points.shape[1])[:max_points]]
    try:
        return gaussian_kde(fit_on)(points)
    except np.linalg.LinAlgError:  # all points on a line: no 2-D density
        return np.ones(points.shape[1])


def fractional_residual(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(predicted - true) / predicted, the residual of Swierc et al. (2023), Figure 2."""
    y_true, y_pred = np.asarray(y_true, float).ravel(), np.asarray(y_pred, float).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        return (y_pred - y_true) / y_pred


def plot_predictions_grid(
    predictions: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]],
    *,
    rows: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    label: str = r"$\theta_E$ [arcsec]",
    residual_limits: tuple[float, float] = (-1.0, 1.0),
    panel_size: float = 3.2,
):
    """Draw predicted against true values, coloured by density, with fractional residuals below.

    This is the layout of Figure 2 of Swierc et al. (2023): one row per method, one column per
    domain, each panel a scatter of predicted against true values coloured by a Gaussian KDE, with
    the fractional residual (predicted - true) / predicted in a smaller panel below it.

    Parameters
    ----------
    predictions : mapping
        ``{(row, column): (y_true, y_pred)}``, e.g. ``{("MMD", "target"): (y, model.predict(X))}``.
    rows : sequence of str, optional
        Order of the rows (methods); by default, the order of first appearance in ``predictions``.
    columns : sequence of str, optional
        Order of the columns (domains); by default, the order of first appearance in ``predictions``.
    label : str
        Axis label of the quantity.
    residual_limits : tuple of float
        y-limits of the residual panels.
    panel_size : float
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> y = np.linspace(0.5, 3.0, 50)
    >>> fig = plot_predictions_grid({("MMD", "source"): (y, y * 1.01), ("MMD", "target"): (y, y + 0.1)})
    >>> len(fig.axes)
    4
    """
    plt = _require_matplotlib()
    rows = list(rows) if rows is not None else list(dict.fromkeys(r for r, _ in predictions))
    columns = list(columns) if columns is not None else list(dict.fromkeys(c for _, c in predictions))
    missing = [(r, c) for r in rows for c in columns if (r, c) not in predictions]
    if missing:
        raise ValueError(f"no predictions for panels {missing}.")
    fig = plt.figure(figsize=(panel_size * len(columns), panel_size * 1.4 * len(rows)), layout="constrained")
    outer = fig.add_gridspec(len(rows), len(columns))
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            y_true, y_pred = (np.asarray(a, float).ravel() for a in predictions[(row, column)])
            inner = outer[i, j].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.0)
            _draw_panel(fig, inner[0], inner[1], y_true, y_pred, residual_limits)
            fig.axes[-2].set_title(f"{row}: {column}", fontsize=10)
            fig.axes[-2].set_ylabel(f"predicted {label}" if j == 0 else "")
            fig.axes[-1].set_ylabel("fract. resid." if j == 0 else "")
            fig.axes[-1].set_xlabel(f"true {label}" if i == len(rows) - 1 else "")
    return fig


def _draw_panel(fig, scatter_spec, residual_spec, y_true, y_pred, residual_limits) -> None:
    ax = fig.add_subplot(scatter_spec)
    density = density_colours(y_true, y_pred)
    order = np.argsort(density)
    ax.scatter(y_true[order], y_pred[order], c=density[order], s=4, cmap="viridis", rasterized=True)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], color="black", lw=0.8, ls="--")
    pad = 0.05 * (np.ptp(y_true) or 1.0)
    ax.set_xlim(y_true.min() - pad, y_true.max() + pad)
    ax.tick_params(labelbottom=False)
    res_ax = fig.add_subplot(residual_spec, sharex=ax)
    residual = fractional_residual(y_true, y_pred)
    res_ax.scatter(y_true[order], residual[order], c=density[order], s=3, cmap="viridis", rasterized=True)
    res_ax.axhline(0, color="black", lw=0.8, ls="--")
    res_ax.set_ylim(*residual_limits)


def plot_calibration(curve: CalibrationCurve, *, parameter_names: Sequence[str] | None = None, ax=None):
    """Draw the expected-coverage curve of each parameter against the diagonal.

    Nominal coverage of the central intervals on the x-axis, empirical coverage on the y-axis:
    a calibrated parameter follows the dashed diagonal, an over-confident one runs below it. The
    legend gives each parameter's mean absolute miscalibration.

    Parameters
    ----------
    curve : CalibrationCurve
        The output of [`calibration_curve`][sklens.metrics.calibration_curve].
    parameter_names : sequence of str, optional
        One name per parameter (column of ``curve.coverage``); by default ``parameter 0``, ...
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; by default a new figure's.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from sklens.metrics import calibration_curve
    >>> y = np.random.default_rng(0).normal(size=(1000, 2))
    >>> curve = calibration_curve(y, y_mean=np.zeros_like(y), y_std=np.ones_like(y))
    >>> ax = plot_calibration(curve, parameter_names=["theta_E", "e1"])
    >>> len(ax.lines)  # two curves and the diagonal
    3
    """
    coverage = np.asarray(curve.coverage, float).reshape(len(curve.levels), -1)
    miscalibration = np.atleast_1d(curve.miscalibration)
    n_parameters = coverage.shape[1]
    names = (
        [f"parameter {i}" for i in range(n_parameters)] if parameter_names is None else list(parameter_names)
    )
    if len(names) != n_parameters:
        raise ValueError(f"parameter_names has {len(names)} names for {n_parameters} parameters.")
    if ax is None:
        ax = _require_matplotlib().subplots(figsize=(4.0, 4.0), layout="constrained")[1]
    for name, column, error in zip(names, coverage.T, miscalibration, strict=True):
        ax.plot(curve.levels, column, label=f"{name} (miscal. {error:.3f})")
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("nominal coverage of the central interval")
    ax.set_ylabel("empirical coverage")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_lens_finding(
    y_true: np.ndarray,
    probabilities: Mapping[str, np.ndarray],
    rotation_stds: Mapping[str, np.ndarray] | None = None,
    *,
    panel_size: float = 4.0,
):
    """Draw ROC curves of lens classifiers and, optionally, how their output varies under rotation.

    The left panel shows the true-positive rate against the false-positive rate on a logarithmic
    axis (lens searches care about the low false-positive end), with each model's ROC AUC in the
    legend. The right panel, drawn when ``rotation_stds`` is given, shows the cumulative fraction of
    images whose lens probability varies by more than a given standard deviation over the four
    90-degree rotations (see [`sklens.metrics.rotation_std`][sklens.metrics.rotation_std]); an exactly
    invariant model has no curve there, and is listed as such in the legend.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels, 1 (or True) for lenses.
    probabilities : mapping
        ``{model name: lens probability of each image}``.
    rotation_stds : mapping, optional
        ``{model name: per-image standard deviation over the four rotations}``.
    panel_size : float
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> y = np.arange(100) % 2
    >>> p = np.clip(y * 0.6 + np.linspace(0, 0.4, 100), 0, 1)
    >>> fig = plot_lens_finding(y, {"CNN": p}, {"CNN": np.linspace(0, 0.1, 100)})
    >>> len(fig.axes)
    2
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _require_matplotlib()
    y_true = np.asarray(y_true).ravel()
    if len(np.unique(y_true)) != 2:
        raise ValueError("y_true must contain both lenses and non-lenses to draw ROC curves.")
    n_panels = 1 if rotation_stds is None else 2
    fig, axes = plt.subplots(
        1, n_panels, figsize=(panel_size * n_panels, panel_size * 0.85), layout="constrained"
    )
    axes = np.atleast_1d(axes)
    _draw_roc_curves(axes[0], y_true, probabilities, roc_curve, roc_auc_score)
    if rotation_stds is not None:
        _draw_rotation_stds(axes[1], rotation_stds)
    return fig


def _draw_roc_curves(ax, y_true, probabilities, roc_curve, roc_auc_score) -> None:
    lowest_fpr = 1.0 / (2 * np.sum(y_true == y_true.min()))
    lowest_visible_tpr = 1.0
    for name, proba in probabilities.items():
        proba = np.asarray(proba, float).ravel()
        if proba.shape != y_true.shape:
            raise ValueError(
                f"probabilities of {name!r} have shape {proba.shape}; y_true has {y_true.shape}."
            )
        fpr, tpr, _ = roc_curve(y_true, proba)
        ax.step(fpr, tpr, where="post", label=f"{name} (AUC {roc_auc_score(y_true, proba):.4f})")
        left_edge = np.searchsorted(fpr, lowest_fpr, side="right") - 1
        lowest_visible_tpr = min(lowest_visible_tpr, float(tpr[left_edge]))
    ax.set_xscale("log")
    ax.set_xlim(lowest_fpr, 1.0)
    # Good lens finders have their curves in the top few per cent: zoom there, not on [0, 1].
    ax.set_ylim(max(0.0, lowest_visible_tpr - 0.1 * (1.0 - lowest_visible_tpr) - 0.005), 1.002)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title("ROC")
    ax.legend(fontsize=8, loc="lower right")


def _draw_rotation_stds(ax, rotation_stds) -> None:
    for name, stds in rotation_stds.items():
        stds = np.sort(np.asarray(stds, float).ravel())
        if not np.any(stds > 0):
            ax.plot([], [], label=f"{name}: exactly 0")
            continue
        fraction_at_least = 1.0 - np.arange(len(stds)) / len(stds)
        positive = stds > 0
        ax.step(
            stds[positive],
            fraction_at_least[positive],
            where="post",
            label=f"{name} (mean {stds.mean():.3f})",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("std of lens probability over 4 rotations")
    ax.set_ylabel("fraction of images at or above")
    ax.set_title("rotation spread")
    ax.legend(fontsize=8, loc="lower left")
