"""Several lens parameters with calibrated uncertainties under domain shift.

[`measure_uncertainty`][sklens.experiments.uncertainty.measure_uncertainty] trains no adaptation, MMD
and DANN with the gaussian (beta-NLL) and flow (neural posterior estimation) heads on the paper's
source domain, adapted to its target domain, for several lens parameters at once, over seeds, and
writes a table per
parameter (R^2, mean absolute residual, 68% and 95% coverage, negative log-likelihood on both test
sets) and the calibration figure (nominal against empirical coverage on the target). Every finished
run is stored at once (atomically), so an interrupted experiment resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.metrics import r2_score
from sklearn.utils import Bunch

from sklens._atomic import atomic_write
from sklens._optional import check_extras
from sklens._validation import HEADS as ALL_HEADS
from sklens._validation import resolve_device
from sklens.experiments._runs import (
    network_options,
    read_finished_run,
    run_settings,
    simulation_cache_dir,
    use_domain_statistics,
    write_finished_run,
)
from sklens.experiments.paper_config import METHOD_LABELS, SCALINGS
from sklens.experiments.reproduce import _load_scaled_domains, _prepare_output, _save_model
from sklens.metrics import CalibrationCurve

HEADS = tuple(head for head in ALL_HEADS if head != "point")  # the heads with a distribution
METHODS = ("none", "mmd", "dann")
LEVELS = (0.68, 0.95)
N_POSTERIOR_SAMPLES = 500


@dataclass(frozen=True)
class UncertaintyConfig:
    """Everything that determines a calibration experiment; it is written to ``results.json``.

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
    heads : tuple of str
        Among ``gaussian`` and ``flow``.
    targets : tuple of str
        Lens parameters to infer (names of
        [`LENS_PARAMETERS`][sklens.simulation.LENS_PARAMETERS]).
    lr : float
        Adam's learning rate of every run (the quick preset's 6e-5).
    batch_size : int
        Source images per step.
    data_seed : int
        Seed of the simulations (the paper's 10).
    members : int
        Members of each run's deep ensemble (``n_members``), trained in one pass: the run with seed
        ``s`` has the members of seeds ``s * members`` to ``s * members + members - 1``, so runs share
        none. Its predictive distribution is the members' mixture, so the spread between members
        (their disagreement, which grows under shift) adds to each head's own.
    scaling : str
        Pixel scaling, ``'per-domain'`` (each domain divided by its training split's pixel scale),
        ``'raw'`` or ``'asinh'`` (``arcsinh`` of the per-domain scaled pixels), as in ``sklens
        reproduce``.
    domain_batchnorm : bool
        Domain-specific BatchNorm statistics in training for every method (``domain_batchnorm=True``;
        without adaptation, the target's statistics are still estimated: AdaBN), and each test set
        predicted with its own domain's statistics.
    feature_norm : bool
        Every network ends its feature extractor with a [`FeatureNorm`][sklens.nn.layers.FeatureNorm]
        (``module__feature_norm=True``), as ``sklens reproduce --feature-norm`` does.
    """

    n: int = 4000
    epochs: int = 15
    seeds: int = 3
    methods: tuple[str, ...] = METHODS
    heads: tuple[str, ...] = HEADS
    targets: tuple[str, ...] = ("theta_E", "center_x", "center_y", "e1", "e2")
    lr: float = 6e-5
    batch_size: int = 32
    data_seed: int = 10
    members: int = 1
    scaling: str = "per-domain"
    domain_batchnorm: bool = False
    feature_norm: bool = False

    def with_overrides(self, **overrides) -> UncertaintyConfig:
        """A copy with the given fields replaced; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def resolve_uncertainty_config(**overrides) -> UncertaintyConfig:
    """The default configuration with ``overrides``, checked before any work starts."""
    from sklens.simulation import LENS_PARAMETERS

    config = UncertaintyConfig().with_overrides(**overrides)
    for name, chosen, valid in (
        ("methods", config.methods, METHODS),
        ("heads", config.heads, HEADS),
        ("targets", config.targets, tuple(LENS_PARAMETERS)),
    ):
        unknown = [value for value in chosen if value not in valid]
        if unknown or not chosen:
            raise ValueError(f"unknown {name} {unknown}; choose among {list(valid)}.")
    for name in ("n", "epochs", "seeds", "batch_size", "members"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1; got {getattr(config, name)}.")
    if config.scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {config.scaling!r}; choose one of {list(SCALINGS)}.")
    if not config.lr > 0:
        raise ValueError(f"lr must be positive; got {config.lr}.")
    return config


def measure_uncertainty(
    *,
    out: str | os.PathLike = "sklens-uncertainty",
    device: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    **overrides,
) -> Bunch:
    """Train every method with every uncertainty head and measure accuracy and calibration.

    Parameters
    ----------
    out : path-like
        Output directory: ``calibration.md``, ``results.json``, ``calibration.png`` and ``runs/``.
    device : str
        ``'auto'``, ``'cpu'`` or ``'cuda'``.
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
    extras = ("sim", "plot", "flow") if "flow" in config.heads else ("sim", "plot")
    check_extras(*extras, user="sklens uncertainty")
    out = _prepare_output(out)
    done = _stored_runs(config, out / "runs")  # refuses runs of other settings before simulating
    data = _load_scaled_domains(
        config.n,
        data_seed=config.data_seed,
        scaling=config.scaling,
        cache_dir=simulation_cache_dir(out, cache_dir),
        progress=progress,
        targets=list(config.targets),
    )
    runs, n_trained = _run_all(config, data, done, out / "runs", resolve_device(device), progress)
    summary = summarise_calibration(runs, config)
    paths = _write_report(out, config, runs, summary)
    return Bunch(config=config, runs=runs, summary=summary, paths=paths, n_trained=n_trained)


def make_uncertainty_estimator(method: str, head: str, config: UncertaintyConfig, seed: int, device: str):
    """The estimator of one method with one head."""
    from sklens import CNNRegressor, DANNRegressor, MMDRegressor

    cls = {"none": CNNRegressor, "mmd": MMDRegressor, "dann": DANNRegressor}[method]
    return cls(
        head=head,
        lr=config.lr,
        max_epochs=config.epochs,
        batch_size=config.batch_size,
        random_state=seed * config.members,
        n_members=config.members,
        domain_batchnorm=config.domain_batchnorm,
        device=device,
        **network_options(config.feature_norm),
    )


def _run_dir(runs_dir: Path, method: str, head: str, seed: int) -> Path:
    return runs_dir / f"{method}-{head}-seed{seed}"


def _run_settings(config: UncertaintyConfig, method: str, head: str) -> dict:
    estimator = make_uncertainty_estimator(method, head, config, seed=0, device="cpu")
    return run_settings(
        estimator,
        n=config.n,
        data_seed=config.data_seed,
        targets=list(config.targets),
        members=config.members,
        scaling=config.scaling,
    )


def _stored_runs(config: UncertaintyConfig, runs_dir: Path) -> dict[tuple[str, str, int], dict | None]:
    settings = {(m, h): _run_settings(config, m, h) for m in config.methods for h in config.heads}
    tasks = [(m, h, s) for s in range(config.seeds) for m in config.methods for h in config.heads]
    return {(m, h, s): read_finished_run(_run_dir(runs_dir, m, h, s), settings[m, h]) for m, h, s in tasks}


def _run_all(
    config: UncertaintyConfig, data: Bunch, done: dict, runs_dir: Path, device: str, progress: bool
) -> tuple[list[dict], int]:
    from tqdm.auto import tqdm

    runs, n_trained = [], 0
    for (method, head, seed), result in tqdm(done.items(), desc="training runs", disable=not progress):
        if result is None:
            result = _train_and_evaluate(
                method, head, seed, config, data, _run_dir(runs_dir, method, head, seed), device
            )
            n_trained += 1
        runs.append(result)
    return runs, n_trained


def _train_and_evaluate(method, head, seed, config, data, run_dir: Path, device: str) -> dict:
    model = make_uncertainty_estimator(method, head, config, seed, device)
    start = time.perf_counter()
    if method == "none" and not config.domain_batchnorm:
        model.fit(data.X_src, data.y_src)
    else:  # with domain BatchNorm, no adaptation still estimates the target's statistics (AdaBN)
        model.fit(data.X_src, data.y_src, X_tgt=data.X_tgt)
    seconds = time.perf_counter() - start
    scores = {
        domain: evaluate_posterior(use_domain_statistics(model, domain), X, y, head, seed, config.targets)
        for domain, (X, y) in data.test.items()
    }
    result = {
        "method": method,
        "head": head,
        "seed": seed,
        "train_seconds": seconds,
        "settings": _run_settings(config, method, head),
        "scores": scores,
    }
    _save_model(run_dir, model)
    return write_finished_run(run_dir, result)


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
    """Mean and standard deviation over seeds of every metric, per method-head, domain and parameter."""
    summary = {}
    for method in config.methods:
        for head in config.heads:
            mine = [run for run in runs if run["method"] == method and run["head"] == head]
            summary[f"{method}-{head}"] = {
                domain: {
                    name: {
                        metric: _mean_std([run["scores"][domain][name][metric] for run in mine])
                        for metric in METRICS
                    }
                    for name in config.targets
                }
                for domain in ("source", "target")
            }
    return summary


def _mean_std(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def format_calibration_table(config: UncertaintyConfig, summary: dict) -> str:
    """One Markdown table per parameter: accuracy and calibration of every method and head."""
    lines = [
        "# Several lens parameters with calibrated uncertainties (mean ± std over seeds)",
        "",
        f"{config.n} lenses per domain (70/10/20 split), {config.epochs} epochs, {config.seeds} seeds, "
        f"{_members(config.members)}lr {config.lr:g}, batch {config.batch_size}, "
        f"{config.scaling} scaling, domain BatchNorm {'on' if config.domain_batchnorm else 'off'}, "
        f"feature norm {'on' if config.feature_norm else 'off'}. "
        "Coverage: share of test lenses inside the central interval; nominal 0.68 and 0.95. "
        "NLL: mean negative log-likelihood of each parameter's marginal.",
    ]
    for name in config.targets:
        lines += [
            "",
            f"## {name}",
            "",
            "| method | head | source R² | target R² | target mean abs residual | target 68% coverage "
            "| target 95% coverage | target NLL | source 68% coverage |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for key, cells in summary.items():
            method, head = key.split("-")
            source, target = cells["source"][name], cells["target"][name]
            row = [
                METHOD_LABELS[method],
                head,
                _cell(source["r2"]),
                _cell(target["r2"]),
                _cell(target["mean_abs_residual"]),
                _cell(target["coverage_68"]),
                _cell(target["coverage_95"]),
                _cell(target["nll"]),
                _cell(source["coverage_68"]),
            ]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _members(members: int) -> str:
    return f"each run an ensemble of {members} members (their mixture), " if members > 1 else ""


def _cell(stat: dict) -> str:
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def _write_report(out: Path, config: UncertaintyConfig, runs: list[dict], summary: dict) -> dict:
    paths = {
        "table": out / "calibration.md",
        "results": out / "results.json",
        "figure": out / "calibration.png",
    }
    with atomic_write(paths["table"]) as temporary:
        temporary.write_text(format_calibration_table(config, summary))
    results = {"config": asdict(config), "summary": summary, "runs": runs}
    with atomic_write(paths["results"]) as temporary:
        temporary.write_text(json.dumps(results, indent=1))
    figure = draw_calibration_figure(runs, config)
    with atomic_write(paths["figure"]) as temporary:
        figure.savefig(temporary, dpi=110)
    return paths


def draw_calibration_figure(runs: list[dict], config: UncertaintyConfig):
    """Nominal against empirical coverage on the target test set: one panel per method and head, one
    line per parameter, the empirical coverage averaged over seeds."""
    from sklens._optional import import_optional
    from sklens.plotting import plot_calibration

    plt = import_optional("matplotlib.pyplot", extra="plot", user="the calibration figure")
    n_rows, n_cols = len(config.methods), len(config.heads)
    figure, axes = plt.subplots(n_rows, n_cols, figsize=(3.6 * n_cols, 3.4 * n_rows), squeeze=False)
    for i, method in enumerate(config.methods):
        for j, head in enumerate(config.heads):
            mine = [run for run in runs if run["method"] == method and run["head"] == head]
            curve = _mean_curve([run["scores"]["target"] for run in mine], config.targets)
            ax = plot_calibration(curve, parameter_names=list(config.targets), ax=axes[i, j])
            ax.set_title(f"{METHOD_LABELS[method]}, {head} head (target)")
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
