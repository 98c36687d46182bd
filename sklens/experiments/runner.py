"""One runner for every experiment: its configuration, its runs on disk and their training.

An experiment is a configuration: a subclass of
[`ExperimentConfig`][sklens.experiments.runner.ExperimentConfig] (``reproduce``'s
[`ReproductionConfig`][sklens.experiments.reproduce.ReproductionConfig], ``uncertainty``'s
[`UncertaintyConfig`][sklens.experiments.uncertainty.UncertaintyConfig]) that names the rows of its table
([`Row`][sklens.experiments.runner.Row]: a regressor of `sklens.regression.METHODS` with its
parameters and the labels it is fitted on), what it measures per run and its report.
[`run_experiment`][sklens.experiments.runner.run_experiment] trains every row over the seeds, in parallel
processes, and keeps each run in its own folder ([`RunStore`][sklens.experiments.runner.RunStore]) as
soon as it is done, so that an interrupted experiment resumes where it stopped; a run whose training
diverges is recorded as failed and the others go on.
"""

from __future__ import annotations

import json
import os
import pickle
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.utils import Bunch

from sklens._atomic import atomic_write
from sklens._optional import check_extras
from sklens._validation import check_n_jobs, resolve_device
from sklens.experiments.data import DOMAINS, SCALINGS, load_scaled_domains

#: The fewest lenses per domain that the 70/10/20 split leaves a test set for.
MIN_LENSES = 20
#: What a method name of an experiment trains, where it is not a key of ``sklens.regression.METHODS``
#: fitted on the source's labels: the oracle is training without adaptation on the target's own labels.
ORACLES = {"oracle": ("none", "target")}
# Estimator parameters that a run's folder and result record themselves, or that do not change what
# is learnt.
_NOT_SETTINGS = frozenset({"random_state", "device", "n_members", "verbose"})


@dataclass(frozen=True)
class Row:
    """One row of an experiment's table: a regressor, its parameters and the labels it is fitted on.

    Its runs are stored in ``runs/NAME-seedS``: a run is a row's name and a seed.

    Parameters
    ----------
    name : str
        The row's name, unique in its experiment.
    method : str
        The regressor: a key of `sklens.regression.METHODS`.
    params : dict
        The regressor's parameters but ``random_state``, ``n_members`` and ``device``.
    record : dict
        What each run of the row writes into its result to say which row it is (JSON values); the
        report finds a row's runs by it.
    labels : str
        The domain whose labels it is fitted on: ``'source'``, with the training images of
        ``unlabelled`` as unlabelled target rows (used by adaptation and domain-specific BatchNorm), or a
        target domain's own (the oracle).
    unlabelled : str
        The domain whose training images are the unlabelled target of a row fitted on the source.

    Examples
    --------
    >>> row = Row("paper-dann", "dann", {"lr": 6e-5, "max_epochs": 30}, {"method": "paper-dann"})
    >>> row.make_estimator(0, device="cpu")  # doctest: +ELLIPSIS
    <class 'sklens.regression.DANNRegressor'>[uninitialized](...)
    """

    name: str
    method: str
    params: Mapping[str, Any]
    record: Mapping[str, Any]
    labels: str = "source"
    unlabelled: str = "target"

    def make_estimator(self, random_state: int, *, n_members: int = 1, device: str = "auto"):
        """The row's regressor, unfitted.

        Parameters
        ----------
        random_state : int
            Seed of the first member; member k has seed ``random_state + k``.
        n_members : int
            Members of the ensemble, trained in one pass.
        device : str
            ``'auto'``, ``'cpu'`` or ``'cuda'``.

        Returns
        -------
        DomainAdaptiveRegressor
            An estimator of ``METHODS[method]``.
        """
        from sklens.regression import METHODS

        return METHODS[self.method](
            random_state=random_state, n_members=n_members, device=device, **self.params
        )

    def fit(self, model, data: Bunch):
        """Fit ``model`` on the training split of ``data``, as the row says.

        Parameters
        ----------
        model : DomainAdaptiveRegressor
            An estimator of the row (see `make_estimator`).
        data : sklearn.utils.Bunch
            Domains as [`load_scaled_domains`][sklens.experiments.data.load_scaled_domains] returns them.

        Returns
        -------
        DomainAdaptiveRegressor
            ``model``, fitted.
        """
        X, y = data.train[self.labels]
        unlabelled = data.train[self.unlabelled][0] if self.labels == "source" else None
        return model.fit(X, y, X_tgt=unlabelled)

    def owns(self, run: Mapping) -> bool:
        """Whether the stored ``run`` (its result) is one of this row's."""
        return all(run.get(key) == value for key, value in self.record.items())


@dataclass(frozen=True)
class ExperimentConfig(ABC):
    """Everything that determines an experiment; it is written to ``results.json``.

    A subclass is one experiment: it gives the rows of its table (`rows`), what it measures per run
    (`measure`), its summary and its report; [`run_experiment`][sklens.experiments.runner.run_experiment]
    does the rest.

    Attributes
    ----------
    n : int
        Lenses per domain (split 70/10/20 into train/test/validation as in the paper).
    epochs : int
        Training epochs of every run.
    seeds : int
        Training seeds per row (network initialisation and batch order).
    methods : tuple of str
        Keys of `sklens.regression.METHODS`, or ``'oracle'`` (no adaptation fitted on the
        target's labels), among those the experiment allows.
    lr : float or dict
        Adam's learning rate: one for every method, or one per method.
    scaling : str
        Pixel scaling, see `SCALINGS`.
    lambda_da : dict
        Weight of the adaptation loss per method (``lambda_da`` of the estimators); a method not listed
        keeps its estimator's default.
    batch_size : int
        Source images per step (and target images per step).
    data_seed : int
        Seed of the simulations (the paper's SEED is 10).
    domain_batchnorm : bool
        Domain-specific BatchNorm statistics (``domain_batchnorm=True``) for every method fitted on the
        source's labels (without adaptation, the target's statistics are still estimated: AdaBN), and
        each test set predicted with its own domain's statistics.
    feature_norm : bool
        Every network ends its feature extractor with a [`FeatureNorm`][sklens.nn.layers.FeatureNorm]
        (``module__feature_norm=True``): each image's features standardised over the features.
    members : int
        Members of each run's deep ensemble (``n_members``), trained in one pass: the run with seed
        ``s`` has the members of seeds ``s * members`` to ``s * members + members - 1``, so runs share
        none. Its prediction is the members' mean (their mixture, for a distribution).
    """

    n: int
    epochs: int
    seeds: int
    methods: tuple[str, ...]
    lr: float | Mapping[str, float]
    scaling: str = "per-domain"
    lambda_da: Mapping[str, float] = field(default_factory=dict)
    batch_size: int = 32
    data_seed: int = 10
    domain_batchnorm: bool = False
    feature_norm: bool = False
    members: int = 1

    #: The method names the experiment allows.
    allowed_methods: ClassVar[tuple[str, ...]]
    #: The command that runs the experiment, for messages.
    command: ClassVar[str]

    def with_overrides(self, **overrides) -> ExperimentConfig:
        """A copy with the given fields replaced; ``None`` values are ignored.

        Parameters
        ----------
        **overrides
            Fields and their new values. A field of several names (``methods``, ``heads``, ...) takes
            any sequence of them, or one string of comma-separated names, as on the command line.

        Returns
        -------
        ExperimentConfig
            The new configuration (not validated: see `validate`).
        """
        overrides = {k: v for k, v in overrides.items() if v is not None}
        for name, value in overrides.items():
            if not isinstance(getattr(self, name, None), tuple):
                continue
            if isinstance(value, str):
                overrides[name] = tuple(part for part in value.split(",") if part)
            else:
                overrides[name] = tuple(value)
        return replace(self, **overrides)

    def validate(self) -> None:
        """Raise a ValueError naming the field and the values it allows unless every field is valid.

        Called before any work starts.

        Raises
        ------
        ValueError
            For the first field that is not valid.
        """
        for name, allowed in self._choices().items():
            value = getattr(self, name)
            if isinstance(value, str):
                if value not in allowed:
                    raise ValueError(f"unknown {name} {value!r}; choose one of {list(allowed)}.")
                continue
            unknown = [v for v in value if v not in allowed]
            if unknown or not value:
                raise ValueError(f"unknown {name} {unknown}; choose among {list(allowed)}.")
        if self.n < MIN_LENSES:
            raise ValueError(
                f"n={self.n} is too small for the 70/10/20 split; "
                f"give at least {MIN_LENSES} lenses per domain."
            )
        for name in ("epochs", "seeds", "batch_size", "members"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}.")
        if self.data_seed < 0:
            raise ValueError(f"data_seed must be a non-negative integer; got {self.data_seed}.")
        rates = self.learning_rates()
        missing = [m for m in self.configured_methods() if m not in rates]
        if missing:
            raise ValueError(f"lr has no rate for the methods {missing}; give one per method.")
        if not all(rates[m] > 0 for m in self.configured_methods()):
            raise ValueError(f"lr must be positive; got {self.lr}.")
        unknown = [m for m in self.lambda_da if m not in self.allowed_methods]
        if unknown:
            raise ValueError(
                f"unknown methods {unknown} in lambda_da; choose among {list(self.allowed_methods)}."
            )
        if not all(weight >= 0 for weight in self.lambda_da.values()):
            raise ValueError(f"lambda_da must be non-negative; got {dict(self.lambda_da)}.")

    def configured_methods(self) -> tuple[str, ...]:
        """The methods of `methods` that the configuration's fields (``lr``, ``lambda_da``, ...)
        configure: all of them here."""
        return self.methods

    def learning_rates(self) -> dict[str, float]:
        """The learning rate of each configured method that ``lr`` gives one for."""
        methods = self.configured_methods()
        if isinstance(self.lr, Mapping):
            return {method: self.lr[method] for method in methods if method in self.lr}
        return dict.fromkeys(methods, self.lr)

    def describe_lr(self) -> str:
        """The learning rates as a report states them: one number, or one per method."""
        if isinstance(self.lr, Mapping):
            return ", ".join(f"{method} {rate:g}" for method, rate in self.learning_rates().items())
        return f"{self.lr:g}"

    def describe_members(self) -> str:
        """What a report says of ``members``: nothing for one network per run."""
        return f"each run an ensemble of {self.members} members (their mixture), " if self.members > 1 else ""

    def _choices(self) -> dict[str, Sequence[str]]:
        """The fields that take named values, and the values each allows."""
        return {"methods": self.allowed_methods, "scaling": SCALINGS}

    @abstractmethod
    def rows(self) -> dict[str, Row]:
        """The rows of the experiment's table, by name, in the table's order."""

    def _method_row(self, method: str, *, name: str, record: Mapping[str, Any], **params) -> Row:
        """The row ``name`` of ``method`` (a name of `methods`): the configuration's estimator
        parameters of the method (its learning rate, constant), and ``params``."""
        regressor, labels = ORACLES.get(method, (method, "source"))
        shared = {
            "lr": self.learning_rates()[method],
            "lr_schedule": "constant",  # the configuration's rate throughout, as the paper trained
            "max_epochs": self.epochs,
            "batch_size": self.batch_size,
            "domain_batchnorm": self.domain_batchnorm and labels == "source",
            **network_options(self.feature_norm),
            **({"lambda_da": self.lambda_da[method]} if method in self.lambda_da else {}),
        }
        return Row(name, regressor, {**shared, **params}, record, labels)

    def _data_settings(self) -> dict:
        """What of the data and the runs a run's settings record, beside its estimator's parameters."""
        members = {"members": self.members} if self.members > 1 else {}
        return {"n": self.n, "data_seed": self.data_seed, "scaling": self.scaling, **members}

    def run_settings(self, row: Row) -> dict:
        """What a run of ``row`` is trained with: the data's settings and the estimator's parameters
        but its seed, device and member count. Stored in each run's ``result.json``; a rerun reuses a
        finished run only if they are equal.

        Parameters
        ----------
        row : Row
            One of `rows`.

        Returns
        -------
        dict
            JSON values, as JSON gives them back.
        """
        return run_settings(row.make_estimator(0, device="cpu"), **self._data_settings())

    def all_runs(self) -> list[tuple[str, int]]:
        """Every run of the experiment, ``(row name, seed)``, seed by seed."""
        return [(name, seed) for seed in range(self.seeds) for name in self.rows()]

    def training_units(self, on_gpu: bool) -> list[tuple[Row, tuple[int, ...]]]:
        """What each training job fits: a row and its seeds, one run per job.

        Parameters
        ----------
        on_gpu : bool
            Whether the runs train on a GPU.

        Returns
        -------
        list of (Row, tuple of int)
            A row and the seeds of the runs one fit trains (their members in one ensemble).
        """
        return [(row, (seed,)) for seed in range(self.seeds) for row in self.rows().values()]

    def training_cost(self, row: Row, seeds: tuple[int, ...]) -> float:
        """A fit's expected cost, in any unit, to start the longest fits first (its runs by default).

        Parameters
        ----------
        row : Row
            The row.
        seeds : tuple of int
            The seeds of its runs that the fit trains.

        Returns
        -------
        float
        """
        return float(len(seeds) * self.members)

    def load_data(
        self, *, n_jobs: int = 1, cache_dir: str | os.PathLike | None = None, progress: bool = True
    ) -> Bunch:
        """The experiment's data, as [`load_scaled_domains`][sklens.experiments.data.load_scaled_domains]
        returns it.

        Parameters
        ----------
        n_jobs : int
            Simulation processes.
        cache_dir : path-like, optional
            Simulation cache.
        progress : bool
            Show progress bars.

        Returns
        -------
        sklearn.utils.Bunch
            ``train``, ``test``, ``validation`` (domain -> (images, target)) and ``scales``.
        """
        return load_scaled_domains(
            self.n,
            data_seed=self.data_seed,
            scaling=self.scaling,
            n_jobs=n_jobs,
            cache_dir=cache_dir,
            progress=progress,
            targets=self._simulated_targets(),
        )

    def _simulated_targets(self) -> list[str] | None:
        """The lens parameters the data's target holds (None: theta_E alone)."""
        return None

    def check_requirements(self) -> None:
        """Raise an ImportError saying what to install unless the extras the experiment needs are there.

        It simulates (extra ``sim``), draws figures (extra ``plot``) and, where a row has the flow
        head, trains flows (extra ``flow``); checked before the first step, so that a long run does
        not fail at the end for want of matplotlib.

        Raises
        ------
        ImportError
            Naming the missing modules and the pip command that installs them.
        """
        flow = any(row.params.get("head") == "flow" for row in self.rows().values())
        check_extras("sim", "plot", *(("flow",) if flow else ()), user=self.command)

    @abstractmethod
    def measure(self, row: Row, model, data: Bunch, seeds: tuple[int, ...]) -> list[dict]:
        """What one fit of ``row`` measured: one result per seed of ``seeds``.

        ``model`` holds ``members`` members per seed, in the order of ``seeds`` (see
        `members_of`). A result is JSON values, and may hold ``predictions``: domain -> (true, predicted)
        arrays, stored beside it in ``predictions.npz`` and given back with it on a resume.
        """

    def members_of(self, k: int) -> slice:
        """The members of the ``k``-th run of a fit (its ``k``-th seed) among the fit's members."""
        return slice(k * self.members, (k + 1) * self.members)

    @abstractmethod
    def summarise(self, runs: list[dict]) -> dict:
        """The summary over seeds of every row, written to ``results.json``."""

    @abstractmethod
    def write_report(self, out: Path, runs: list[dict], summary: dict, data: Bunch) -> dict[str, Path]:
        """Write the experiment's table, ``results.json`` and figures to ``out``; return their paths."""

    def conclusions(self, summary: dict) -> list[str]:
        """What the summary says, one sentence per line, for the end of the command's output (none by
        default)."""
        return []


def network_options(feature_norm: bool) -> dict:
    """Estimator parameters for the experiments' network options, given explicitly (the estimators'
    defaults for images differ from the paper's network).

    Parameters
    ----------
    feature_norm : bool
        End the feature extractor with a ``FeatureNorm``.

    Returns
    -------
    dict
        ``module__`` parameters.

    Examples
    --------
    >>> network_options(True), network_options(False)
    ({'module__feature_norm': True}, {'module__feature_norm': False})
    """
    return {"module__feature_norm": bool(feature_norm)}


def run_settings(estimator, **data) -> dict:
    """The data's settings and the estimator's plain-valued parameters but its seed, device and member
    count, as JSON gives them back.

    Parameters
    ----------
    estimator : DomainAdaptiveRegressor
        The run's estimator.
    **data
        The data's settings (JSON values).

    Returns
    -------
    dict
        The settings a run records in its ``result.json``.
    """
    params = _plain_params(estimator)
    inner = estimator.get_params(deep=False).get("estimator")  # a meta-estimator's regressor
    if inner is not None:
        params |= {f"estimator__{name}": value for name, value in _plain_params(inner).items()}
        params["estimator__estimator"] = type(inner).__name__
    return json.loads(json.dumps({**data, "estimator": type(estimator).__name__, **params}))


def _plain_params(estimator) -> dict:
    return {
        name: value
        for name, value in sorted(estimator.get_params(deep=False).items())
        if name not in _NOT_SETTINGS and isinstance(value, str | int | float | bool | None)
    }


def use_domain_statistics(model, domain: str):
    """``model``, set to predict with ``domain``'s BatchNorm statistics (where it keeps each domain's
    apart, ``domain_batchnorm``; elsewhere the setting changes nothing); each test set of an
    experiment is predicted with its own.

    Parameters
    ----------
    model : DomainAdaptiveRegressor
        A fitted regressor.
    domain : str
        Whose statistics to predict with, ``'source'`` or ``'target'``.

    Returns
    -------
    DomainAdaptiveRegressor
        ``model`` itself.
    """
    model.set_params(predict_domain=domain)
    return model


def mean_std(values: Sequence[float]) -> dict[str, float | None]:
    """Mean and standard deviation of ``values``, or None for both where there are none.

    Parameters
    ----------
    values : sequence of float
        One value per run that finished.

    Returns
    -------
    dict
        ``mean`` and ``std``.

    Examples
    --------
    >>> mean_std([1.0, 3.0]), mean_std([])
    ({'mean': 2.0, 'std': 1.0}, {'mean': None, 'std': None})
    """
    if not values:
        return {"mean": None, "std": None}
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def format_mean_std(cell: Mapping[str, float | None]) -> str:
    """A table cell of [`mean_std`][sklens.experiments.runner.mean_std]: ``mean ± std``, or ``-``.

    Examples
    --------
    >>> format_mean_std({"mean": 0.5, "std": 0.25}), format_mean_std({"mean": None, "std": None})
    ('0.500 ± 0.250', '-')
    """
    return "-" if cell["mean"] is None else f"{cell['mean']:.3f} ± {cell['std']:.3f}"


def completed(runs: list[dict]) -> list[dict]:
    """The runs that trained to the end (a diverged run records ``failed`` and measured nothing)."""
    return [run for run in runs if "failed" not in run]


class RunStore:
    """An experiment's runs on disk: one folder per run, ``runs_dir/ROW-seedS``.

    A finished run's folder holds ``result.json`` (what it measured and the settings it was trained
    with), written last and atomically: it marks the run finished. Beside it, ``history.json`` (every
    loss term per epoch), ``predictions.npz`` where the experiment keeps predictions, and
    ``model.pkl``; the members of several runs trained in one pass share one ``model.pkl`` in
    ``runs_dir/ROW-seedsA-B``. A run that diverged records ``failed`` (the error) in its
    ``result.json`` and nothing else.

    Parameters
    ----------
    runs_dir : path-like
        The folder of the runs.

    Examples
    --------
    >>> store = RunStore("sklens-out/runs")
    >>> store.run_dir("mmd", 2).as_posix()
    'sklens-out/runs/mmd-seed2'
    """

    def __init__(self, runs_dir: str | os.PathLike) -> None:
        self.runs_dir = Path(runs_dir)

    def run_dir(self, row: str, seed: int) -> Path:
        """The folder of the run of ``row`` (its name) with ``seed``."""
        return self.runs_dir / f"{row}-seed{seed}"

    def fit_dir(self, row: str, seeds: tuple[int, ...]) -> Path:
        """The folder of the model whose members are the runs of ``row`` with ``seeds``."""
        return self.runs_dir / f"{row}-seeds{seeds[0]}-{seeds[-1]}"

    def stored_runs(self, config: ExperimentConfig) -> dict[tuple[str, int], dict | None]:
        """The stored result of every run of ``config`` (None where it has not finished).

        Parameters
        ----------
        config : ExperimentConfig
            The experiment.

        Returns
        -------
        dict
            ``(row name, seed)`` -> result, in the order of ``config.all_runs()``.

        Raises
        ------
        ValueError
            If a finished run was trained with other settings, naming the run and what differs.
        """
        rows = config.rows()
        settings = {name: config.run_settings(row) for name, row in rows.items()}
        return {(name, seed): self.read(name, seed, settings[name]) for name, seed in config.all_runs()}

    def read(self, row: str, seed: int, settings: dict) -> dict | None:
        """The stored result of a finished run trained with ``settings``, or None where it has not finished.

        A run stored by an sklens that recorded no settings is reused with a warning.

        Parameters
        ----------
        row : str
            The row's name.
        seed : int
            The run's seed.
        settings : dict
            What the run is to be trained with (see `ExperimentConfig.run_settings`).

        Returns
        -------
        dict or None
            The result, with its ``predictions`` where it stored some.

        Raises
        ------
        ValueError
            If the run was trained with other settings, naming what differs.
        """
        run_dir = self.run_dir(row, seed)
        marker = run_dir / "result.json"
        if not marker.exists():
            return None
        result = json.loads(marker.read_text())
        stored = result.get("settings")
        if stored is None:
            warnings.warn(  # one text for every such run, so that it is shown once
                "finished runs stored by an older sklens record no training settings; they are reused as "
                "this configuration's runs: check that they were trained with the same settings.",
                UserWarning,
                stacklevel=2,
            )
        elif stored != settings:
            changed = sorted(k for k in stored.keys() | settings.keys() if stored.get(k) != settings.get(k))
            differences = "; ".join(f"{k}: {stored.get(k)!r} there, {settings.get(k)!r} now" for k in changed)
            raise ValueError(
                f"the finished run in {str(run_dir)!r} was trained with other settings ({differences}). "
                "Give another output directory, or delete that folder to train the run again."
            )
        if (run_dir / "predictions.npz").exists():
            arrays = np.load(run_dir / "predictions.npz")
            result["predictions"] = {d: (arrays[f"{d}_true"], arrays[f"{d}_pred"]) for d in DOMAINS}
        return result

    def save(self, row: str, seed: int, result: dict, model, *, pickle_model: bool = True) -> dict:
        """Store a finished run: its predictions, its model, its history and, last, its result.

        Parameters
        ----------
        row : str
            The row's name.
        seed : int
            The run's seed.
        result : dict
            What the run measured (JSON values), and ``predictions`` (domain -> (true, predicted)).
        model : DomainAdaptiveRegressor
            The fitted model.
        pickle_model : bool
            Pickle the model into the run's folder; False where it holds the members of other runs
            too, and is stored once for all (see `save_model`).

        Returns
        -------
        dict
            ``result`` as `read` gives it back.
        """
        run_dir = self.run_dir(row, seed)
        run_dir.mkdir(parents=True, exist_ok=True)
        predictions = result.pop("predictions", None)
        if predictions is not None:
            arrays = {
                f"{d}_{k}": v for d, (y, p) in predictions.items() for k, v in (("true", y), ("pred", p))
            }
            with atomic_write(run_dir / "predictions.npz") as temporary:
                np.savez(temporary, **arrays)
        if pickle_model:
            self.save_model(run_dir, model)
        net = getattr(model, "estimator_", model)  # a meta-estimator's regressor holds the history
        history = [{k: v for k, v in epoch.items() if k != "batches"} for epoch in net.history]
        with atomic_write(run_dir / "history.json") as temporary:
            temporary.write_text(json.dumps(history, indent=1))
        stored = self._write_result(run_dir, result)
        return stored if predictions is None else {**stored, "predictions": predictions}

    def save_failed(self, row: str, seed: int, record: dict, error: str) -> dict:
        """Store a run whose training diverged: its ``result.json`` says why (``failed``)."""
        return self._write_result(self.run_dir(row, seed), {**record, "failed": error})

    def save_model(self, directory: Path, model) -> None:
        """Pickle ``model`` into ``directory/model.pkl``, atomically."""
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_write(directory / "model.pkl") as temporary, temporary.open("wb") as stream:
            pickle.dump(model, stream)

    @staticmethod
    def _write_result(run_dir: Path, result: dict) -> dict:
        """Write ``result.json``, atomically and after everything else of the run: it marks the run
        finished. Returns ``result`` as JSON gives it back."""
        text = json.dumps(result, indent=1)
        run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(run_dir / "result.json") as temporary:
            temporary.write_text(text)
        return json.loads(text)


def remaining_runs(config: ExperimentConfig, out: str | os.PathLike) -> list[tuple[str, int]]:
    """The ``(row name, seed)`` runs of ``config`` not yet finished in the output directory ``out``.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.
    out : path-like
        Its output directory.

    Returns
    -------
    list of (str, int)
        The runs left to train.

    Raises
    ------
    ValueError
        If a finished run there was trained with other settings.
    """
    runs_dir = Path(out) / "runs"
    if not runs_dir.is_dir():
        return config.all_runs()
    return [run for run, result in RunStore(runs_dir).stored_runs(config).items() if result is None]


def simulation_cache_dir(out: str | os.PathLike, cache_dir: str | os.PathLike | None) -> Path:
    """Where an experiment writing to ``out`` keeps its simulated lenses: ``cache_dir``, or
    ``out/cache`` by default."""
    return Path(cache_dir) if cache_dir else Path(out) / "cache"


def effective_n_jobs(n_jobs: int | None) -> int:
    """The number of processes ``n_jobs`` stands for: None means every core, -1 too (as in joblib)."""
    from joblib import effective_n_jobs as joblib_effective_n_jobs

    return joblib_effective_n_jobs(check_n_jobs(-1 if n_jobs is None else n_jobs))


def run_experiment(
    config: ExperimentConfig,
    *,
    out: str | os.PathLike,
    device: str = "auto",
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> Bunch:
    """Train every run of an experiment, measure each, and write its report; resumable.

    Everything is checked before any simulation: the configuration, the extras it needs, the output
    directory, and that the finished runs there were trained with these settings.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.
    out : path-like
        Output directory: the experiment's report, and ``runs/`` (see
        [`RunStore`][sklens.experiments.runner.RunStore]).
    device : str
        ``'auto'``, ``'cpu'`` or ``'cuda'``.
    n_jobs : int, optional
        Parallel processes for simulation and for training runs: None (the default) or -1 uses every
        CPU core; one training run at a time on a GPU.
    cache_dir : path-like, optional
        Simulation cache (default ``out/cache``).
    progress : bool
        Show progress bars.

    Returns
    -------
    sklearn.utils.Bunch
        ``config``, ``runs`` (one result per run, in the order of ``config.all_runs()``), ``summary``,
        ``conclusions`` (sentences, see ``ExperimentConfig.conclusions``), ``paths`` of the written
        files and ``n_trained`` (runs trained by this call; finished runs
        found on disk are reused).

    Raises
    ------
    ValueError
        If the configuration is not valid, ``out`` cannot be written, or a finished run there was
        trained with other settings.

    Examples
    --------
    >>> from sklens.experiments.reproduce import resolve_config
    >>> config = resolve_config(n=40, epochs=1, seeds=1)
    >>> result = run_experiment(config, out="/tmp/sklens-doc", progress=False)  # doctest: +SKIP
    """
    config.validate()
    config.check_requirements()
    n_jobs = effective_n_jobs(n_jobs)
    out = _prepare_output(out)
    store = RunStore(out / "runs")
    done = store.stored_runs(config)  # refuses runs of other settings before simulating
    data = config.load_data(n_jobs=n_jobs, cache_dir=simulation_cache_dir(out, cache_dir), progress=progress)
    runs, n_trained = _train_all(config, data, done, store, device, n_jobs, progress)
    summary = config.summarise(runs)
    paths = config.write_report(out, runs, summary, data)
    return Bunch(
        config=config,
        runs=runs,
        summary=summary,
        paths=paths,
        n_trained=n_trained,
        conclusions=config.conclusions(summary),
    )


def _prepare_output(out) -> Path:
    out = Path(out)
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the output directory {str(out)!r}: {exc}") from exc
    if not os.access(out, os.W_OK):
        raise ValueError(f"the output directory {str(out)!r} is not writable.")
    return out


def _train_all(
    config: ExperimentConfig,
    data: Bunch,
    done: dict,
    store: RunStore,
    device: str,
    n_jobs: int,
    progress: bool,
) -> tuple[list[dict], int]:
    """Train the fits that a run left to train belongs to, in parallel processes on a CPU."""
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    device = resolve_device(device)
    on_gpu = device.startswith("cuda")
    units = config.training_units(on_gpu)
    pending = [(row, seeds) for row, seeds in units if any(done[(row.name, s)] is None for s in seeds)]
    # The longest first: the last runs then finish together instead of one process training alone.
    pending.sort(key=lambda unit: config.training_cost(*unit), reverse=True)
    n_workers = 1 if on_gpu else max(1, min(n_jobs, len(pending)))
    threads = _threads_per_worker(n_workers)
    bar = tqdm(
        total=len(done),
        initial=sum(result is not None for result in done.values()),
        desc="training runs",
        disable=not progress,
    )
    results = Parallel(n_jobs=n_workers, return_as="generator_unordered")(
        delayed(_train_and_measure)(config, row, seeds, data, store, device, threads)
        for row, seeds in pending
    )
    with warnings.catch_warnings():
        # loky replaces a worker whose memory grew during a run (torch keeps its allocator's pages)
        # and says so with a UserWarning; the run's result is complete, nothing is lost.
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs", category=UserWarning)
        for fit in results:
            for run, result in fit:
                bar.update(done[run] is None)
                done[run] = result
    bar.close()
    return list(done.values()), sum(len(seeds) for _, seeds in pending)


def _threads_per_worker(n_workers: int) -> int:
    """Torch threads for each of ``n_workers`` training processes: the CPUs this process may use
    (its affinity and cgroup quota, as on a batch-system node or under ``taskset``), shared out."""
    from joblib import cpu_count

    return max(1, cpu_count() // n_workers)


def _train_and_measure(
    config: ExperimentConfig,
    row: Row,
    seeds: tuple[int, ...],
    data: Bunch,
    store: RunStore,
    device: str,
    threads: int,
) -> list[tuple[tuple[str, int], dict]]:
    """Fit ``row`` once for the runs of ``seeds`` (``members`` members each) and store each run."""
    import torch

    from sklens.exceptions import NonFiniteLossError

    torch.set_num_threads(threads)
    members = config.members
    model = row.make_estimator(seeds[0] * members, n_members=len(seeds) * members, device=device)
    record = {"members_trained_together": len(seeds) * members, "settings": config.run_settings(row)}
    records = {seed: {**row.record, "seed": seed, **record} for seed in seeds}
    start = time.perf_counter()
    try:
        row.fit(model, data)
    except NonFiniteLossError as exc:  # a diverged run is a result too: recorded, not retried
        return [((row.name, s), store.save_failed(row.name, s, records[s], str(exc))) for s in seeds]
    seconds = time.perf_counter() - start
    measured = config.measure(row, model, data, seeds)
    alone = len(seeds) == 1
    if not alone:
        store.save_model(store.fit_dir(row.name, seeds), model)
    return [
        (
            (row.name, seed),
            store.save(
                row.name,
                seed,
                {**records[seed], "train_seconds": seconds, **result},
                model,
                pickle_model=alone,
            ),
        )
        for seed, result in zip(seeds, measured, strict=True)
    ]
