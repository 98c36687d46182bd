"""Regenerate Table 1 and Figure 2 of Swierc et al. (2023) with sklens.

[`reproduce`][sklens.experiments.reproduce.reproduce] simulates the source and target domains (through the
simulation cache), trains each method over several seeds, evaluates pooled R^2 on both test sets and writes a
report. It is one configuration of the experiment runner
([`ReproductionConfig`][sklens.experiments.reproduce.ReproductionConfig], run by
[`run_experiment`][sklens.experiments.runner.run_experiment]): every finished run is stored on disk at
once (atomically), so an interrupted reproduction resumes where it stopped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.metrics import r2_score
from sklearn.utils import Bunch

from sklens._deprecation import FormerAttribute, moved_names, warn_renamed
from sklens.experiments.paper_config import (
    LIBRARY_PREFIX,
    METHOD_LABELS,
    MMD_BANDWIDTHS,
    PAPER_TABLE1,
    row_label,
)
from sklens.experiments.report import binned_fractional_residual, write_report
from sklens.experiments.runner import (
    ORACLES,
    ExperimentConfig,
    Row,
    completed,
    effective_n_jobs,
    mean_std,
    run_experiment,
    use_domain_statistics,
)
from sklens.metrics import interval_coverage
from sklens.nn.heads import HEADS

# Training images per second per process (member-images for an ensemble), for the estimate printed
# before a long run. Separate runs: measured by the quick preset's main job on the 2-core development
# CPU (two processes at a time, one torch thread each, quiet; December 2026, the CNN in channels-last
# memory: none 1,380-1,395, DANN 735-750, MMD 750-770, and the library's rows DANN 570-640, MMD
# 645-655, oracle 1,290-1,350). The paper's oracle, CORAL, RSD and DARE-GRAM: the rates of the rows
# they train alike (no DA; MMD). In one pass: the separate rates times the one-pass/separate ratio
# measured in November 2026 in the default layout (none 1.05, oracle 0.81, DANN 0.93, MMD 0.91;
# studies/one-pass-ensembles.md).
_SEPARATE = {"none": 1390, "oracle": 1390, "dann": 745, "mmd": 760, "coral": 760, "rsd": 760, "daregram": 760}
_LIBRARY = {"none": 1390, "oracle": 1320, "dann": 600, "mmd": 648, "coral": 648, "rsd": 648, "daregram": 648}
_ONE_PASS = {
    "none": 1.05,
    "oracle": 0.81,
    "dann": 0.93,
    "mmd": 0.91,
    "coral": 0.91,
    "rsd": 0.91,
    "daregram": 0.91,
}
_SEPARATE_RATES = {**_SEPARATE, **{f"{LIBRARY_PREFIX}{method}": rate for method, rate in _LIBRARY.items()}}
CPU_IMAGES_PER_SECOND = {
    "separate": _SEPARATE_RATES,
    "seeds_in_one_pass": {
        row: rate * _ONE_PASS[row.removeprefix(LIBRARY_PREFIX)] for row, rate in _SEPARATE_RATES.items()
    },
}
SIMULATED_IMAGES_PER_SECOND = 250
#: The central intervals whose coverage a run with a predictive distribution records.
COVERAGE_LEVELS = (0.68, 0.95)
# The weights of the adaptation losses that ReproductionConfig had a field for each, by that field.
_LAMBDA_FIELDS = {"lambda_mmd": "mmd", "lambda_dann": "dann", "lambda_rsd": "rsd"}


@dataclass(frozen=True)
class ReproductionConfig(ExperimentConfig):
    """Everything that determines a reproduction run; it is written to ``results.json``.

    The fields of [`ExperimentConfig`][sklens.experiments.runner.ExperimentConfig] (``n``, ``epochs``,
    ``seeds``, ``methods``, ``lr``, ``scaling``, ``lambda_da``, ``batch_size``, ``data_seed``,
    ``domain_batchnorm``, ``feature_norm``, ``members``), with the reproduction's defaults, and the
    fields below. One row per method, ``runs/METHOD-seedS`` per run.

    Attributes
    ----------
    methods : tuple of str
        The rows of Table 1. ``none``, ``dann``, ``mmd``, ``coral``, ``rsd``, ``daregram`` and
        ``oracle`` (no adaptation trained on target labels) are configured by the fields below, the
        paper's settings by default (its point head, one BatchNorm, the plain Table 2 CNN; the preset's
        learning rates), and hold out nothing to calibrate. ``sklens-METHOD`` (``sklens-dann``,
        ``sklens-oracle``, ...) is the same method at the library's defaults: only the preset's size
        (``n``, ``epochs``, ``batch_size``, ``members``) is given. By default the paper's No DA, DANN
        and MMD beside the library's DANN, MMD and oracle.
    lr : dict
        Adam learning rate per method (of the rows configured as the paper's).
    lambda_da : dict
        Weight of the adaptation loss per method: MMD's 1.4 and DANN's 1.0 are the paper's; RSD's 0.1
        is the only weight of {0.001 (the reference code's), 0.01, 0.1} that beat no adaptation on both
        seeds of the test suite's toy shift. CORAL and DARE-GRAM keep their estimators' defaults.
    mmd_bandwidth : str
        Base of the MMD kernels' bandwidths: the batch's mean squared distance (``mean``, the paper's)
        or its median (``median``), see [`MMDRegressor`][sklens.regression.MMDRegressor].
    head : str
        Every method's output head (``head``): ``point`` (the paper's), ``gaussian`` (a mean and a
        variance, beta-NLL) or ``flow``; Table 1 scores the predictive mean.
    seeds_in_one_pass : bool or None
        Train a method's runs (all its seeds) as the members of one ensemble, in one vectorised pass: a
        speed option, each run being the fit with its own seeds as when trained alone. False trains one
        run at a time. None: in one pass on a GPU, one at a time on a CPU, where one pass measured no
        faster than separate runs two at a time (docs/performance.md, "Ensembles").
    """

    methods: tuple[str, ...] = ("none", "dann", "mmd", "sklens-dann", "sklens-mmd", "sklens-oracle")
    lr: Mapping[str, float] = field(
        default_factory=lambda: {
            "none": 1e-5,
            "dann": 6e-5,
            "mmd": 6e-5,
            "coral": 6e-5,
            "rsd": 6e-5,
            "daregram": 6e-5,
            "oracle": 1e-5,
        }
    )
    lambda_da: Mapping[str, float] = field(default_factory=lambda: {"mmd": 1.4, "dann": 1.0, "rsd": 0.1})
    mmd_bandwidth: str = "mean"
    head: str = "point"
    seeds_in_one_pass: bool | None = None

    allowed_methods: ClassVar[tuple[str, ...]] = (
        *METHOD_LABELS,
        *(f"{LIBRARY_PREFIX}{method}" for method in METHOD_LABELS),
    )
    command: ClassVar[str] = "sklens reproduce"

    def with_overrides(self, **overrides) -> ReproductionConfig:
        """A copy with the given fields replaced; ``None`` values are ignored.

        The former fields ``lambda_mmd``, ``lambda_dann``, ``lambda_rsd`` (now entries of ``lambda_da``)
        and ``ensemble`` (now ``seeds_in_one_pass``) are still accepted, with a ``FutureWarning``.

        Parameters
        ----------
        **overrides
            Fields and their new values.

        Returns
        -------
        ReproductionConfig
            The new configuration (not validated: see `validate`).
        """
        for old, method in _LAMBDA_FIELDS.items():
            weight = overrides.pop(old, None)
            if weight is not None:
                warn_renamed(old, f"lambda_da={{{method!r}: {weight!r}}}")
                overrides["lambda_da"] = {**(overrides.get("lambda_da") or self.lambda_da), method: weight}
        ensemble = overrides.pop("ensemble", None)
        if ensemble is not None:
            warn_renamed("ensemble", f"seeds_in_one_pass={ensemble!r}")
            if overrides.get("seeds_in_one_pass") is None:
                overrides["seeds_in_one_pass"] = ensemble
        return super().with_overrides(**overrides)

    # Former fields, read with a FutureWarning until 1.1.
    lambda_mmd = FormerAttribute("lambda_da['mmd']", lambda config: config.lambda_da["mmd"])
    lambda_dann = FormerAttribute("lambda_da['dann']", lambda config: config.lambda_da["dann"])
    lambda_rsd = FormerAttribute("lambda_da['rsd']", lambda config: config.lambda_da["rsd"])
    ensemble = FormerAttribute("seeds_in_one_pass", lambda config: config.seeds_in_one_pass)

    def _choices(self) -> dict:
        return {**super()._choices(), "head": tuple(HEADS), "mmd_bandwidth": MMD_BANDWIDTHS}

    def training_cost(self, row: Row, seeds: tuple[int, ...]) -> float:
        """Seconds per process expected from the measured throughputs (``CPU_IMAGES_PER_SECOND``)."""
        rates = CPU_IMAGES_PER_SECOND["seeds_in_one_pass" if len(seeds) > 1 else "separate"]
        return len(seeds) * self.members * self.epochs * 0.7 * self.n / rates[row.name]

    def configured_methods(self) -> tuple[str, ...]:
        """The rows configured by the fields (the ``sklens-`` rows take the library's defaults)."""
        return tuple(name for name in self.methods if not name.startswith(LIBRARY_PREFIX))

    def rows(self) -> dict[str, Row]:
        """One row per name of ``methods``; its runs record it as their ``method``.

        Returns
        -------
        dict
            Row name -> [`Row`][sklens.experiments.runner.Row].
        """
        return {name: self._row(name) for name in self.methods}

    def _row(self, name: str) -> Row:
        method = name.removeprefix(LIBRARY_PREFIX)
        if method != name:  # the library's defaults, at the preset's size
            regressor, labels = ORACLES.get(method, (method, "source"))
            size = {"max_epochs": self.epochs, "batch_size": self.batch_size}
            return Row(name, regressor, size, {"method": name}, labels)
        options = {"mmd": {"bandwidth": self.mmd_bandwidth}}.get(method, {})
        return self._method_row(
            method, name=name, record={"method": name}, head=self.head, calibration_fraction=0, **options
        )

    def training_units(self, on_gpu: bool) -> list[tuple[Row, tuple[int, ...]]]:
        """A method's seeds in one fit (see ``seeds_in_one_pass``), or one fit per seed.

        Parameters
        ----------
        on_gpu : bool
            Whether the runs train on a GPU.

        Returns
        -------
        list of (Row, tuple of int)
            A row and the seeds of the runs one fit trains.
        """
        if self.seeds_in_one_pass or (self.seeds_in_one_pass is None and on_gpu):
            return [(row, tuple(range(self.seeds))) for row in self.rows().values()]
        return super().training_units(on_gpu)

    def measure(self, row: Row, model, data: Bunch, seeds: tuple[int, ...]) -> list[dict]:
        """Per run: pooled R^2 and the binned fractional residuals of each test set, and the predictions.

        Each test set is predicted with its own domain's BatchNorm statistics; a run's prediction is its
        members' mean.

        Parameters
        ----------
        row : Row
            The fitted row.
        model : DomainAdaptiveRegressor
            The fit, ``members`` members per seed.
        data : sklearn.utils.Bunch
            The scaled domains.
        seeds : tuple of int
            The seeds of its runs.

        Returns
        -------
        list of dict
            One result per seed: ``r2``, ``residual_by_bin`` and ``predictions`` per domain, and for a
            row with a predictive distribution trained one run per fit, ``coverage``: per domain the
            share of test lenses inside the central 68% and 95% intervals.
        """
        members = {
            domain: (y, use_domain_statistics(model, domain).predict_members(X))
            for domain, (X, y) in data.test.items()
        }
        results = []
        for k in range(len(seeds)):
            predictions = {d: (y, p[self.members_of(k)].mean(axis=0)) for d, (y, p) in members.items()}
            results.append(
                {
                    "r2": {d: float(r2_score(y, p)) for d, (y, p) in predictions.items()},
                    "residual_by_bin": {
                        d: binned_fractional_residual(y, p) for d, (y, p) in predictions.items()
                    },
                    "predictions": predictions,
                }
            )
        if len(seeds) == 1 and model.output_head_[0].has_distribution:
            results[0]["coverage"] = {
                domain: np.ravel(
                    interval_coverage(
                        y, levels=COVERAGE_LEVELS, **_moments(use_domain_statistics(model, domain), X)
                    )
                ).tolist()
                for domain, (X, y) in data.test.items()
            }
        return results

    def summarise(self, runs: list[dict]) -> dict:
        """See [`summarise`][sklens.experiments.reproduce.summarise]."""
        return summarise(runs, self.methods)

    def conclusions(self, summary: dict) -> list[str]:
        """How the library's defaults compare with the paper's Table 1: one sentence per method the
        paper reports that a ``sklens-`` row trained.

        Parameters
        ----------
        summary : dict
            As `summarise` returns it.

        Returns
        -------
        list of str
        """
        sentences = []
        for name, cells in summary.items():
            paper = PAPER_TABLE1.get(name.removeprefix(LIBRARY_PREFIX))
            target = cells["target"]
            if not name.startswith(LIBRARY_PREFIX) or paper is None or target["mean"] is None:
                continue
            mean, std = paper["target"]
            difference = target["mean"] - mean
            side = "above" if difference >= 0 else "below"
            sentences.append(
                f"{row_label(name)}: target R² {target['mean']:.3f} ± {target['std']:.3f} over "
                f"{self.seeds - cells['failed']} seeds, {abs(difference):.3f} {side} the paper's "
                f"{METHOD_LABELS[name.removeprefix(LIBRARY_PREFIX)]} in its Table 1 ({mean:.2f} ± {std:.2g}, "
                "trained on 50,000 lenses per domain)."
            )
        return sentences

    def write_report(self, out: Path, runs: list[dict], summary: dict, data: Bunch) -> dict[str, Path]:
        """Write ``table1.md``, ``results.json`` and ``figure2.png``; return their paths."""
        description = {
            "n_train": len(data.train["source"][1]),
            "n_test": {domain: len(y) for domain, (_, y) in data.test.items()},
            "pixel_scales": {"source": data.scales[0], "target": data.scales[1]},
        }
        return write_report(out, self, runs, summary, data_description=description)


PRESETS = {
    # Sized by measurement to finish within 10 minutes on a 2-core CPU, simulation included. Learning
    # rates: per method, the best mean target R^2 of {6e-5, 1.5e-4, 3e-4, 1e-3} over two seeds on
    # another draw of the domains (data_seed 11), among rates where no seed diverged
    # (studies/study_quick_lr.py; docs/results.md). The paper's rates stay in the paper preset.
    "quick": ReproductionConfig(
        n=4000,
        epochs=15,
        seeds=3,
        lr={
            "none": 1e-3,
            "dann": 1e-3,
            "mmd": 1e-3,
            "coral": 1e-3,
            "rsd": 1.5e-4,
            "daregram": 6e-5,
            "oracle": 1e-3,
        },
    ),
    # The paper's settings: 50,000 lenses per domain, 30 epochs, 10 seeds, its learning rates.
    "paper": ReproductionConfig(n=50_000, epochs=30, seeds=10),
}


def resolve_config(preset: str = "quick", **overrides) -> ReproductionConfig:
    """The preset's configuration with ``overrides`` applied, checked before any work starts.

    Parameters
    ----------
    preset : {'quick', 'paper'}
        The configuration to start from (see ``PRESETS``).
    **overrides
        Fields of [`ReproductionConfig`][sklens.experiments.reproduce.ReproductionConfig]; None keeps
        the preset's. A number for ``lr`` is one rate for every method; ``lambda_da`` gives the weights
        of the methods it names, the others keep the preset's.

    Returns
    -------
    ReproductionConfig
        The configuration, valid.

    Raises
    ------
    ValueError
        Naming the field that is not valid and the values it allows.

    Examples
    --------
    >>> config = resolve_config(n=40, lr=3e-4, lambda_da={"mmd": 2.0})
    >>> config.lr["dann"], config.lambda_da["mmd"], config.lambda_da["dann"]
    (0.0003, 2.0, 1.0)
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
    base = PRESETS[preset]
    if isinstance(overrides.get("lr"), int | float):  # one rate for every method
        overrides["lr"] = dict.fromkeys(METHOD_LABELS, float(overrides["lr"]))
    if overrides.get("lambda_da") is not None:
        overrides["lambda_da"] = {**base.lambda_da, **overrides["lambda_da"]}
    config = base.with_overrides(**overrides)
    config.validate()
    return config


def check_requirements(config: ReproductionConfig | None = None) -> None:
    """Raise an ImportError saying what to install unless the extras a reproduction needs are there.

    It simulates (extra ``sim``), draws Figure 2 (extra ``plot``) and, with ``head='flow'``, trains
    flows (extra ``flow``); checked before the first step, so a long run does not fail at the end for
    want of matplotlib. See
    [`ExperimentConfig.check_requirements`][sklens.experiments.runner.ExperimentConfig.check_requirements].
    """
    (config or PRESETS["quick"]).check_requirements()


def estimated_cpu_seconds(
    config: ReproductionConfig,
    n_jobs: int | None = None,
    runs: list[tuple[str, int]] | None = None,
    n_simulated: int | None = None,
) -> float:
    """Rough duration on a CPU from measured throughputs: simulating ``n_simulated`` lenses (by
    default both domains whole, see `lenses_to_simulate`) and the training ``runs`` (``(method,
    seed)`` pairs; by default every run of ``config``, see
    [`remaining_runs`][sklens.experiments.runner.remaining_runs])."""
    if runs is None:
        runs = config.all_runs()
    rows = config.rows()
    training = sum(config.training_cost(rows[method], (seed,)) for method, seed in runs)
    if n_simulated is None:
        n_simulated = 2 * config.n
    simulation = n_simulated / SIMULATED_IMAGES_PER_SECOND
    return (training + simulation) / effective_n_jobs(n_jobs)


def lenses_to_simulate(config: ReproductionConfig, cache_dir: str | os.PathLike) -> int:
    """Lenses of both domains that the simulation cache in ``cache_dir`` does not hold yet."""
    from sklens.simulation._api import PAPER_DOMAINS, uncached_lenses

    return sum(
        uncached_lenses(domain, config.n, random_state=config.data_seed, cache_dir=cache_dir)
        for domain in PAPER_DOMAINS
    )


def reproduce(
    preset: str = "quick",
    *,
    out: str | os.PathLike = "sklens-out",
    n: int | None = None,
    epochs: int | None = None,
    seeds: int | None = None,
    methods: Sequence[str] | str | None = None,
    scaling: str | None = None,
    mmd_bandwidth: str | None = None,
    domain_batchnorm: bool | None = None,
    lr: float | None = None,
    lambda_da: dict[str, float] | None = None,
    data_seed: int | None = None,
    head: str | None = None,
    feature_norm: bool | None = None,
    members: int | None = None,
    seeds_in_one_pass: bool | None = None,
    device: str = "auto",
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    ensemble: bool | None = None,
) -> Bunch:
    """Reproduce Table 1 and Figure 2 of Swierc et al. (2023).

    Parameters
    ----------
    preset : {'quick', 'paper'}
        ``quick`` finishes within minutes on a CPU; ``paper`` uses the paper's sizes (for a GPU).
    out : path-like
        Output directory: ``table1.md``, ``results.json``, ``figure2.png`` and ``runs/``: one folder per
        method and seed with predictions, history and result, and the trained model (one pickle per
        method's runs trained in one pass, in ``METHOD-seedsA-B``, or one per run).
    n : int, optional
        Lenses per domain, instead of the preset's (the fields of
        [`ReproductionConfig`][sklens.experiments.reproduce.ReproductionConfig] say more).
    epochs : int, optional
        Training epochs of every method, instead of the preset's.
    seeds : int, optional
        Training seeds per method, instead of the preset's.
    methods : sequence of str or str, optional
        Rows to train, instead of the preset's (a string: comma-separated names): among ``'none'``,
        ``'dann'``, ``'mmd'``, ``'coral'``, ``'rsd'``, ``'daregram'`` and ``'oracle'`` (configured as
        the paper's), and each of them prefixed ``'sklens-'`` (at the library's defaults, e.g.
        ``'sklens-dann'``).
    scaling : str, optional
        Pixel scaling, ``'per-domain'``, ``'raw'`` or ``'asinh'``, instead of the preset's.
    mmd_bandwidth : str, optional
        MMD's bandwidth base, ``'mean'`` (the paper's) or ``'median'``, instead of the preset's.
    domain_batchnorm : bool, optional
        Domain-specific BatchNorm for every method but the oracle, instead of the preset's (none).
    lr : float, optional
        One learning rate for every method, instead of the preset's per-method rates.
    lambda_da : dict, optional
        Weights of the adaptation losses of the methods it names (e.g. ``{'mmd': 2.0}``); the others
        keep the preset's.
    data_seed : int, optional
        Seed of the simulated domains, instead of 10 (the paper's): another draw of the same
        distributions, for example to choose settings on data other than the reported table's.
    head : str, optional
        Every method's output head, ``'point'`` (the default, the paper's), ``'gaussian'`` or
        ``'flow'``; R^2 is of the predictive mean.
    feature_norm : bool, optional
        Standardise each image's feature vector over its features in every method's network
        (``module__feature_norm=True``), instead of the preset's (off, the paper's network).
    members : int, optional
        Each run a deep ensemble of this many members (``n_members``), scored by their mean, instead of
        one network.
    seeds_in_one_pass : bool, optional
        Train a method's runs as the members of one ensemble in one pass (a speed option), or one run
        at a time (False). By default, in one pass on a GPU and one at a time on a CPU (see
        [`ReproductionConfig`][sklens.experiments.reproduce.ReproductionConfig]).
    device : str
        ``'auto'``, ``'cpu'`` or ``'cuda'``.
    n_jobs : int, optional
        Parallel processes for simulation and for training runs: None (the default) or -1 uses every
        CPU core; one training run at a time on a GPU.
    cache_dir : path-like, optional
        Simulation cache (default ``out/cache``).
    progress : bool
        Show progress bars.
    ensemble : bool, optional
        The former name of ``seeds_in_one_pass``.

        .. deprecated:: 1.0
            ``ensemble`` was renamed ``seeds_in_one_pass`` and will be removed in 1.1.

    Returns
    -------
    sklearn.utils.Bunch
        ``config``, ``runs`` (one dict per method and seed), ``summary`` (mean and std of R^2 per
        method and domain), ``paths`` of the written files and ``n_trained`` (runs trained by this
        call; finished runs found on disk are reused).

    Examples
    --------
    >>> result = reproduce(n=40, epochs=1, seeds=1, out="/tmp/sklens-doc", progress=False)  # doctest: +SKIP
    >>> list(result.summary)  # doctest: +SKIP
    ['none', 'dann', 'mmd', 'sklens-dann', 'sklens-mmd', 'sklens-oracle']
    """
    config = resolve_config(
        preset,
        n=n,
        epochs=epochs,
        seeds=seeds,
        methods=methods,
        scaling=scaling,
        mmd_bandwidth=mmd_bandwidth,
        domain_batchnorm=domain_batchnorm,
        lr=lr,
        lambda_da=lambda_da,
        data_seed=data_seed,
        head=head,
        feature_norm=feature_norm,
        members=members,
        seeds_in_one_pass=seeds_in_one_pass,
        ensemble=ensemble,
    )
    return run_experiment(
        config, out=out, device=device, n_jobs=n_jobs, cache_dir=cache_dir, progress=progress
    )


def make_estimator(method: str, config: ReproductionConfig, seed: int, device: str, n_members: int = 1):
    """The sklens estimator of one method, configured as in ``config`` (``n_members`` seeds from ``seed``).

    .. deprecated:: 1.0
        Use ``config.rows()[method].make_estimator(seed, n_members=n_members, device=device)``;
        ``make_estimator`` will be removed in 1.1.
    """
    warn_renamed(
        "make_estimator(method, config, seed, ...)", "config.rows()[method].make_estimator(seed, ...)"
    )
    row = config.with_overrides(methods=(method,)).rows()[method]
    return row.make_estimator(seed, n_members=n_members, device=device)


def _gap_closed(floor: dict | None, ceiling: dict | None, cells: dict) -> float | None:
    """The share of the target gap between no adaptation and the oracle that a row closes, where both
    were trained alike (None where either is missing)."""
    means = [None if row is None else row["target"]["mean"] for row in (floor, ceiling, cells)]
    if None in means or means[1] <= means[0]:
        return None
    return float((means[2] - means[0]) / (means[1] - means[0]))


def _moments(model, X) -> dict:
    mean, std = model.predict(X, return_std=True)
    return {"y_mean": mean, "y_std": std}


def summarise(runs: list[dict], methods) -> dict:
    """Mean and standard deviation over seeds of R^2 per method and domain, and the gap closed.

    Parameters
    ----------
    runs : list of dict
        The runs' results.
    methods : sequence of str
        The methods to summarise.

    Returns
    -------
    dict
        Per method: ``source`` and ``target`` (``mean`` and ``std``, None where every seed diverged),
        ``failed`` (seeds that diverged) and ``gap_closed``: the share of the gap between no adaptation
        and the oracle trained alike (the paper's configuration, or the library's defaults) closed, None
        where either is missing.
    """
    summary = {}
    for method in methods:
        mine = [r for r in runs if r["method"] == method]
        finished = completed(mine)
        summary[method] = {d: mean_std([r["r2"][d] for r in finished]) for d in ("source", "target")}
        covered = [r["coverage"] for r in finished if "coverage" in r]
        if covered:
            summary[method]["coverage"] = {
                d: [mean_std([c[d][i] for c in covered]) for i in range(len(COVERAGE_LEVELS))]
                for d in ("source", "target")
            }
        summary[method]["failed"] = len(mine) - len(finished)
    for prefix in ("", LIBRARY_PREFIX):  # the paper's rows, and the library's: each against its own
        floor, ceiling = (summary.get(f"{prefix}{name}") for name in ("none", "oracle"))
        family = [name for name in summary if name.startswith(LIBRARY_PREFIX) == bool(prefix)]
        for name in family:
            summary[name]["gap_closed"] = _gap_closed(floor, ceiling, summary[name])
    return summary


__getattr__ = moved_names(
    __name__,
    {
        "scale_pixels": "sklens.experiments.data",
        "domain_scales": "sklens.experiments.data",
        "remaining_runs": "sklens.experiments.runner",
        "MIN_LENSES": "sklens.experiments.runner",
    },
)
