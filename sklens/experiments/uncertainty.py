"""Several lens parameters with calibrated uncertainties under domain shift.

[`measure_uncertainty`][sklens.experiments.uncertainty.measure_uncertainty] trains no adaptation, MMD
and DANN with the gaussian (beta-NLL) and flow (neural posterior estimation) heads on the paper's
source domain, adapted to its target domain, for several lens parameters at once, over seeds, and
writes a table per
parameter (R^2, mean absolute residual, 68% and 95% coverage, negative log-likelihood on both test
sets) and the calibration figure (nominal against empirical coverage on the target). It is one
configuration of the experiment runner
([`UncertaintyConfig`][sklens.experiments.uncertainty.UncertaintyConfig], run by
[`run_experiment`][sklens.experiments.runner.run_experiment]): every finished run is stored at once
(atomically), so an interrupted experiment resumes where it stopped, and a run that diverges is recorded
while the others go on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.metrics import r2_score
from sklearn.utils import Bunch

from sklens._atomic import atomic_write
from sklens._deprecation import warn_renamed
from sklens.experiments.paper_config import METHOD_LABELS
from sklens.experiments.runner import (
    ExperimentConfig,
    Row,
    completed,
    format_mean_std,
    mean_std,
    run_experiment,
    use_domain_statistics,
)
from sklens.metrics import CalibrationCurve
from sklens.nn.heads import HEADS as ALL_HEADS

HEADS = tuple(name for name, head in ALL_HEADS.items() if head.has_distribution)
METHODS = ("none", "mmd", "dann")
LEVELS = (0.68, 0.95)
N_POSTERIOR_SAMPLES = 500


@dataclass(frozen=True)
class UncertaintyConfig(ExperimentConfig):
    """Everything that determines a calibration experiment; it is written to ``results.json``.

    The fields of [`ExperimentConfig`][sklens.experiments.runner.ExperimentConfig] (``n``, ``epochs``,
    ``seeds``, ``methods``, ``lr``, ``scaling``, ``lambda_da``, ``batch_size``, ``data_seed``,
    ``domain_batchnorm``, ``feature_norm``, ``members``), with the defaults below, and ``heads`` and
    ``targets``. One row per method and head, ``runs/METHOD-HEAD-seedS`` per run.

    Attributes
    ----------
    n : int
        Lenses per domain (split 70/10/20 into train/test/validation as in the paper).
    epochs : int
        Training epochs.
    seeds : int
        Training seeds per method and head.
    methods : tuple of str
        Among ``none``, ``mmd`` and ``dann``.
    lr : float or dict
        Adam's learning rate of every run (the quick preset's 6e-5), or one per method.
    heads : tuple of str
        Among ``gaussian`` and ``flow``.
    targets : tuple of str
        Lens parameters to infer (names of
        [`LENS_PARAMETERS`][sklens.simulation.LENS_PARAMETERS]).
    """

    n: int = 4000
    epochs: int = 15
    seeds: int = 3
    methods: tuple[str, ...] = METHODS
    lr: float | Mapping[str, float] = 6e-5
    heads: tuple[str, ...] = HEADS
    targets: tuple[str, ...] = ("theta_E", "center_x", "center_y", "e1", "e2")

    allowed_methods: ClassVar[tuple[str, ...]] = METHODS
    command: ClassVar[str] = "sklens uncertainty"

    def _choices(self) -> dict:
        from sklens.simulation import LENS_PARAMETERS

        return {**super()._choices(), "heads": HEADS, "targets": tuple(LENS_PARAMETERS)}

    def rows(self) -> dict[str, Row]:
        """One row per method and head, named ``METHOD-HEAD``; its runs record ``method`` and ``head``.

        Returns
        -------
        dict
            Row name -> [`Row`][sklens.experiments.runner.Row].
        """
        return {
            f"{method}-{head}": self._method_row(
                method, name=f"{method}-{head}", record={"method": method, "head": head}, head=head
            )
            for method in self.methods
            for head in self.heads
        }

    def _data_settings(self) -> dict:
        return {
            "n": self.n,
            "data_seed": self.data_seed,
            "targets": list(self.targets),
            "members": self.members,
            "scaling": self.scaling,
        }

    def _simulated_targets(self) -> list[str]:
        return list(self.targets)

    def measure(self, row: Row, model, data: Bunch, seeds: tuple[int, ...]) -> list[dict]:
        """The run's accuracy and calibration per test set and parameter (see `evaluate_posterior`).

        Each test set is predicted with its own domain's BatchNorm statistics, through the
        predictive distribution of the run's members.

        Parameters
        ----------
        row : Row
            The fitted row.
        model : DomainAdaptiveRegressor
            The run's model.
        data : sklearn.utils.Bunch
            The scaled domains.
        seeds : tuple of int
            The run's seed (one: each fit is one run).

        Returns
        -------
        list of dict
            One result: ``scores``, domain -> parameter -> metric.
        """
        (seed,) = seeds
        head = row.params["head"]
        scores = {
            domain: evaluate_posterior(use_domain_statistics(model, domain), X, y, head, seed, self.targets)
            for domain, (X, y) in data.test.items()
        }
        return [{"scores": scores}]

    def summarise(self, runs: list[dict]) -> dict:
        """See [`summarise_calibration`][sklens.experiments.uncertainty.summarise_calibration]."""
        return summarise_calibration(runs, self)

    def write_report(self, out: Path, runs: list[dict], summary: dict, data: Bunch) -> dict[str, Path]:
        """Write ``calibration.md``, ``results.json`` and ``calibration.png``; return their paths."""
        paths = {
            "table": out / "calibration.md",
            "results": out / "results.json",
            "figure": out / "calibration.png",
        }
        with atomic_write(paths["table"]) as temporary:
            temporary.write_text(format_calibration_table(self, summary, runs))
        results = {"config": asdict(self), "summary": summary, "runs": runs}
        with atomic_write(paths["results"]) as temporary:
            temporary.write_text(json.dumps(results, indent=1))
        figure = draw_calibration_figure(runs, self)
        with atomic_write(paths["figure"]) as temporary:
            figure.savefig(temporary, dpi=110)
        return paths


def resolve_uncertainty_config(**overrides) -> UncertaintyConfig:
    """The default configuration with ``overrides``, checked before any work starts.

    Parameters
    ----------
    **overrides
        Fields of [`UncertaintyConfig`][sklens.experiments.uncertainty.UncertaintyConfig]; None keeps
        the default.

    Returns
    -------
    UncertaintyConfig
        The configuration, valid.

    Raises
    ------
    ValueError
        Naming the field that is not valid and the values it allows.

    Examples
    --------
    >>> resolve_uncertainty_config(n=40, heads=("gaussian",)).rows().keys()
    dict_keys(['none-gaussian', 'mmd-gaussian', 'dann-gaussian'])
    """
    config = UncertaintyConfig().with_overrides(**overrides)
    config.validate()
    return config


def measure_uncertainty(
    *,
    out: str | os.PathLike = "sklens-uncertainty",
    device: str = "auto",
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    **overrides,
) -> Bunch:
    """Train every method with every uncertainty head and measure accuracy and calibration.

    A run whose training diverges is recorded as failed (the table counts it) and the others go on.

    Parameters
    ----------
    out : path-like
        Output directory: ``calibration.md``, ``results.json``, ``calibration.png`` and ``runs/``.
    device : str
        ``'auto'``, ``'cpu'`` or ``'cuda'``.
    n_jobs : int, optional
        Parallel processes for simulation and for training runs: None (the default) or -1 uses every
        CPU core; one training run at a time on a GPU.
    cache_dir : path-like, optional
        Simulation cache (default ``out/cache``).
    progress : bool
        Show progress bars.
    **overrides
        Fields of [`UncertaintyConfig`][sklens.experiments.uncertainty.UncertaintyConfig] (``n``,
        ``epochs``, ``seeds``, ``methods``, ``heads``, ``targets``, ...).

    Returns
    -------
    sklearn.utils.Bunch
        ``config``, ``runs`` (one dict per method, head and seed), ``summary`` (mean and std over
        seeds per method, head, domain and parameter), ``paths`` of the written files and
        ``n_trained`` (runs trained by this call; finished runs found on disk are reused).

    Examples
    --------
    >>> result = measure_uncertainty(n=40, epochs=1, seeds=1, progress=False)  # doctest: +SKIP
    >>> sorted(result.summary)  # doctest: +SKIP
    ['dann-flow', 'dann-gaussian', 'mmd-flow', 'mmd-gaussian', 'none-flow', 'none-gaussian']
    """
    config = resolve_uncertainty_config(**overrides)
    return run_experiment(
        config, out=out, device=device, n_jobs=n_jobs, cache_dir=cache_dir, progress=progress
    )


def make_uncertainty_estimator(method: str, head: str, config: UncertaintyConfig, seed: int, device: str):
    """The estimator of one method with one head (the run with ``seed``).

    .. deprecated:: 1.0
        Use ``config.rows()[f"{method}-{head}"].make_estimator(seed * config.members,
        n_members=config.members, device=device)``; ``make_uncertainty_estimator`` will be removed in 1.1.
    """
    warn_renamed(
        "make_uncertainty_estimator(method, head, config, ...)", "config.rows()[name].make_estimator(...)"
    )
    row = config.with_overrides(methods=(method,), heads=(head,)).rows()[f"{method}-{head}"]
    return row.make_estimator(seed * config.members, n_members=config.members, device=device)


def evaluate_posterior(model, X: np.ndarray, y: np.ndarray, head: str, seed: int, names) -> dict:
    """Per parameter: R^2, mean absolute residual, coverage at LEVELS, NLL, and the calibration curve."""
    from sklens.metrics import calibration_curve, gaussian_nll, interval_coverage, sample_nll

    if head == "gaussian":
        mean, std = model.predict(X, return_std=True)
        form = {"y_mean": mean, "y_std": std}
        nll = gaussian_nll(y, mean, std)
    else:
        samples = model.sample_posterior(X, N_POSTERIOR_SAMPLES, random_state=seed)
        mean = samples.mean(axis=0)
        form = {"samples": samples}
        nll = sample_nll(y, samples)
    coverage = interval_coverage(y, levels=LEVELS, **form)
    curve = calibration_curve(y, **form)
    return {
        name: {
            "r2": float(r2_score(y[:, j], mean[:, j])),
            "mean_abs_residual": float(np.mean(np.abs(mean[:, j] - y[:, j]))),
            **{f"coverage_{round(100 * level)}": float(coverage[i, j]) for i, level in enumerate(LEVELS)},
            "nll": float(nll[j]),
            "miscalibration": float(np.atleast_1d(curve.miscalibration)[j]),
            "calibration": {
                "levels": curve.levels.tolist(),
                "coverage": np.asarray(curve.coverage).reshape(len(curve.levels), -1)[:, j].tolist(),
            },
        }
        for j, name in enumerate(names)
    }


METRICS = ("r2", "mean_abs_residual", "coverage_68", "coverage_95", "nll", "miscalibration")


def summarise_calibration(runs: list[dict], config: UncertaintyConfig) -> dict:
    """Mean and standard deviation over seeds of every metric, per method-head, domain and parameter.

    Parameters
    ----------
    runs : list of dict
        The runs' results.
    config : UncertaintyConfig
        Their experiment.

    Returns
    -------
    dict
        Per row (``METHOD-HEAD``): ``source`` and ``target``, parameter -> metric -> ``mean`` and
        ``std`` over the seeds that finished (None where every seed diverged), and ``failed``.
    """
    summary = {}
    for name, row in config.rows().items():
        mine = [run for run in runs if row.owns(run)]
        finished = completed(mine)
        summary[name] = {
            domain: {
                parameter: {
                    metric: mean_std([run["scores"][domain][parameter][metric] for run in finished])
                    for metric in METRICS
                }
                for parameter in config.targets
            }
            for domain in ("source", "target")
        }
        summary[name]["failed"] = len(mine) - len(finished)
    return summary


def format_calibration_table(config: UncertaintyConfig, summary: dict, runs: Sequence[dict] = ()) -> str:
    """One Markdown table per parameter: accuracy and calibration of every method and head, and the
    runs of ``runs`` that diverged."""
    lines = [
        "# Several lens parameters with calibrated uncertainties (mean ± std over seeds)",
        "",
        f"{config.n} lenses per domain (70/10/20 split), {config.epochs} epochs, {config.seeds} seeds, "
        f"{config.describe_members()}lr {config.describe_lr()}, batch {config.batch_size}, "
        f"{config.scaling} scaling, domain BatchNorm {'on' if config.domain_batchnorm else 'off'}, "
        f"feature norm {'on' if config.feature_norm else 'off'}. "
        "Coverage: share of test lenses inside the central interval; nominal 0.68 and 0.95. "
        "NLL: mean negative log-likelihood of each parameter's marginal.",
    ]
    for parameter in config.targets:
        lines += [
            "",
            f"## {parameter}",
            "",
            "| method | head | source R² | target R² | target mean abs residual | target 68% coverage "
            "| target 95% coverage | target NLL | source 68% coverage |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, row in config.rows().items():
            cells = summary[name]
            source, target = cells["source"][parameter], cells["target"][parameter]
            failed = cells["failed"]
            label = METHOD_LABELS[row.record["method"]]
            row_cells = [
                label + (f" ({failed} of {config.seeds} seeds diverged)" if failed else ""),
                row.record["head"],
                format_mean_std(source["r2"]),
                format_mean_std(target["r2"]),
                format_mean_std(target["mean_abs_residual"]),
                format_mean_std(target["coverage_68"]),
                format_mean_std(target["coverage_95"]),
                format_mean_std(target["nll"]),
                format_mean_std(source["coverage_68"]),
            ]
            lines.append("| " + " | ".join(row_cells) + " |")
    diverged = [run for run in runs if "failed" in run]
    if diverged:
        lines += ["", "## Runs that diverged (kept on disk; delete a run's folder to train it again)", ""]
        lines += [
            f"- {METHOD_LABELS[r['method']]}, {r['head']} head, seed {r['seed']}: {r['failed']}"
            for r in diverged
        ]
    return "\n".join(lines) + "\n"


def draw_calibration_figure(runs: list[dict], config: UncertaintyConfig):
    """Nominal against empirical coverage on the target test set: one panel per method and head, one
    line per parameter, the empirical coverage averaged over the seeds that finished."""
    from sklens._optional import import_optional
    from sklens.plotting import plot_calibration

    plt = import_optional("matplotlib.pyplot", extra="plot", user="the calibration figure")
    n_rows, n_cols = len(config.methods), len(config.heads)
    figure, axes = plt.subplots(n_rows, n_cols, figsize=(3.6 * n_cols, 3.4 * n_rows), squeeze=False)
    for ax, row in zip(axes.flat, config.rows().values(), strict=True):
        title = f"{METHOD_LABELS[row.record['method']]}, {row.record['head']} head (target)"
        finished = completed([run for run in runs if row.owns(run)])
        if not finished:
            ax.set_title(f"{title}: every seed diverged")
            ax.set_axis_off()
            continue
        curve = _mean_curve([run["scores"]["target"] for run in finished], config.targets)
        plot_calibration(curve, parameter_names=list(config.targets), ax=ax).set_title(title)
    figure.tight_layout()
    return figure


def _mean_curve(scores: list[dict], names) -> CalibrationCurve:
    """The seeds' mean calibration curve of each parameter."""
    levels = np.asarray(scores[0][names[0]]["calibration"]["levels"])
    coverage = np.stack(
        [np.mean([s[name]["calibration"]["coverage"] for s in scores], axis=0) for name in names], axis=1
    )
    miscalibration = np.abs(coverage - levels[:, None]).mean(axis=0)
    return CalibrationCurve(levels, coverage, miscalibration)
