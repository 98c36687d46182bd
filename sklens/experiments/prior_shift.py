"""Adaptation when the survey's lens population differs from the simulation's prior.

[`measure_prior_shift`][sklens.experiments.prior_shift.measure_prior_shift] (``sklens prior-shift``)
simulates the paper's source domain, its target domain (the same observing conditions) with the
source's lens population, and the same target with another population (``shifted``:
``paper-target-lognormal`` by default, or ``paper-target-des-population``). Every method trains at the
library's defaults, adapted to the target without the shift (``METHOD``) and with it
(``METHOD-shift``), and with the shift and prior-shift awareness
([`PriorShiftRegressor`][sklens.prior_shift.PriorShiftRegressor]: predictions corrected to the
estimated population, ``METHOD-correct``; trained under it too, ``METHOD-adapt``; and the latter without
a shift, ``METHOD-adapt-noshift``, to show that nothing is lost; and trained again on a source simulated
under the estimate, ``METHOD-resimulate``); no adaptation and an oracle trained on
the shifted target's labels are the floor and the ceiling. Every run is scored on the shifted target's
test set (RMSE, R², and the offset per θ_E bin) and on the unshifted target's (R²); a prior-shift-aware
run also records its estimated population and its total-variation distance from the true one (the
histogram of the unlabelled images' true θ_E) in 0.25″ bins. It is one configuration of the experiment
runner: resumable, in parallel processes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.metrics import r2_score
from sklearn.utils import Bunch

from sklens._atomic import atomic_write
from sklens.experiments.data import load_scaled_domains, scale_pixels
from sklens.experiments.paper_config import METHOD_LABELS
from sklens.experiments.report import RESIDUAL_BINS, binned_fractional_residual
from sklens.experiments.runner import (
    ExperimentConfig,
    Row,
    completed,
    format_mean_std,
    mean_std,
    run_experiment,
)

#: The target presets with a shifted lens population, by the name the configuration takes.
SHIFTED_TARGETS = {"lognormal": "paper-target-lognormal", "des-population": "paper-target-des-population"}
#: The bins in which the estimated population is compared with the true one.
POPULATION_BINS = np.arange(0.5, 3.0001, 0.25)
#: What each kind of row of a method trains: the target it adapts to, and the prior-shift option.
ROW_KINDS = {
    "": {"unlabelled": "target", "adapt": None},
    "-shift": {"unlabelled": "shifted", "adapt": None},
    "-correct": {"unlabelled": "shifted", "adapt": False},
    "-adapt": {"unlabelled": "shifted", "adapt": True},
    "-adapt-noshift": {"unlabelled": "target", "adapt": True},
    "-resimulate": {"unlabelled": "shifted", "adapt": True, "resimulate": True},
}


@dataclass(frozen=True)
class PriorShiftRow(Row):
    """A row whose regressor is wrapped in a ``PriorShiftRegressor`` (``adapt``: also trained under the
    estimated population); ``adapt=None`` is the plain regressor."""

    adapt: bool | None = None
    resimulate: bool = False

    def make_estimator(self, random_state: int, *, n_members: int = 1, device: str = "auto"):
        """The row's regressor, wrapped as the row says (see `Row.make_estimator`)."""
        from sklens.prior_shift import PriorShiftRegressor

        regressor = super().make_estimator(random_state, n_members=n_members, device=device)
        if self.adapt is None:
            return regressor
        bins = POPULATION_BINS
        return PriorShiftRegressor(regressor, bins=bins, support=(bins[0], bins[-1]), adapt=self.adapt)

    def fit(self, model, data: Bunch):
        """Fit as `Row.fit` does; a ``resimulate`` row's second training is on a source simulated again
        under the estimate (as many training images as the source's, scaled by the source's scale)."""
        if self.resimulate:
            from sklens.simulation import PopulationSimulator
            from sklens.simulation._api import PAPER_DOMAINS

            transform = partial(scale_pixels, scale=data.scales[0], scaling=data.scaling)
            n_train = len(data.train["source"][0])
            simulator = PopulationSimulator(PAPER_DOMAINS[0], n_train, transform=transform, progress=False)
            model.set_params(simulator=simulator)
        return super().fit(model, data)


@dataclass(frozen=True)
class PriorShiftConfig(ExperimentConfig):
    """Everything that determines a prior-shift experiment; it is written to ``results.json``.

    The fields of [`ExperimentConfig`][sklens.experiments.runner.ExperimentConfig]; ``lr``,
    ``domain_batchnorm`` and ``feature_norm`` are not used (every row trains at the library's defaults,
    given only ``epochs``, ``batch_size`` and ``members``).

    Attributes
    ----------
    methods : tuple of str
        Adaptive methods (keys of ``sklens.regression.METHODS`` but ``none``); each gets the six rows
        of the module's description. No adaptation and the oracle are always trained.
    shifted : str
        The shifted target's population: ``lognormal`` or ``des-population`` (``SHIFTED_TARGETS``).
    """

    n: int = 8000
    epochs: int = 15
    seeds: int = 3
    methods: tuple[str, ...] = ("dann", "mmd")
    lr: float = 3e-4
    shifted: str = "lognormal"

    allowed_methods: ClassVar[tuple[str, ...]] = ("dann", "mmd", "coral", "rsd", "daregram")
    command: ClassVar[str] = "sklens prior-shift"

    def configured_methods(self) -> tuple[str, ...]:
        """None: every row takes the library's defaults."""
        return ()

    def _choices(self) -> dict:
        return {**super()._choices(), "shifted": tuple(SHIFTED_TARGETS)}

    def rows(self) -> dict[str, Row]:
        """No adaptation, the oracle on the shifted target's labels, and six rows per method."""
        size = {"max_epochs": self.epochs, "batch_size": self.batch_size}
        rows = {
            "none": PriorShiftRow("none", "none", size, {"row": "none"}, unlabelled="shifted"),
            "oracle": PriorShiftRow("oracle", "none", size, {"row": "oracle"}, labels="shifted"),
        }
        for method in self.methods:
            for suffix, kind in ROW_KINDS.items():
                name = f"{method}{suffix}"
                rows[name] = PriorShiftRow(name, method, size, {"row": name}, **kind)
        return rows

    def load_data(
        self, *, n_jobs: int = 1, cache_dir: str | os.PathLike | None = None, progress: bool = True
    ) -> Bunch:
        """The source, the target with the source's population (``target``) and with the shifted one
        (``shifted``), each scaled by its own training pixels; ``truth``: the shifted target's
        population (its unlabelled training images' true θ_E) in ``POPULATION_BINS``."""
        from sklens.population import Population

        options = dict(data_seed=self.data_seed, scaling=self.scaling, n_jobs=n_jobs, cache_dir=cache_dir)
        plain = load_scaled_domains(self.n, progress=progress, **options)
        shifted = load_scaled_domains(
            self.n, progress=progress, target=SHIFTED_TARGETS[self.shifted], **options
        )
        parts = {
            part: {**plain[part], "shifted": shifted[part]["target"]}
            for part in ("train", "test", "validation")
        }
        truth = Population.from_values(parts["train"]["shifted"][1], POPULATION_BINS, name="theta_E")
        return Bunch(**parts, scales=(*plain.scales, shifted.scales[1]), scaling=self.scaling, truth=truth)

    def measure(self, row: Row, model, data: Bunch, seeds: tuple[int, ...]) -> list[dict]:
        """RMSE, R² and offsets per θ_E bin on the shifted target's test set, R² on the unshifted
        target's; for a prior-shift-aware row, its estimated population and its distance from the truth.
        """
        X, y = data.test["shifted"]
        predicted = model.predict(X)
        X_plain, y_plain = data.test["target"]
        result = {
            "rmse": float(np.sqrt(np.mean((predicted - y) ** 2))),
            "r2": float(r2_score(y, predicted)),
            "r2_unshifted": float(r2_score(y_plain, model.predict(X_plain))),
            "residual_by_bin": binned_fractional_residual(y, predicted),
        }
        population = getattr(model, "population_", None)
        if population is not None:
            std = None if population.std is None else population.std.tolist()  # adapt: a running mean
            result["population"] = {"weights": population.weights.tolist(), "std": std}
            result["population_tv"] = population.total_variation(data.truth)
        return [result]

    def summarise(self, runs: list[dict]) -> dict:
        """Per row: mean and std over seeds of each score, and each bin's offset furthest from 0."""
        summary = {}
        for name in self.rows():
            mine = completed([run for run in runs if run["row"] == name])
            cells = {
                key: mean_std([r[key] for r in mine if key in r]) for key in ("rmse", "r2", "r2_unshifted")
            }
            tv = [r["population_tv"] for r in mine if "population_tv" in r]
            if tv:
                cells["population_tv"] = mean_std(tv)
            offsets = np.array(
                [[b["median_fractional_residual"] for b in r["residual_by_bin"]] for r in mine], dtype=float
            ).reshape(len(mine), -1)
            cells["worst_offset"] = [
                None if not np.isfinite(column).any() else float(column[np.nanargmax(np.abs(column))])
                for column in offsets.T
            ]
            cells["failed"] = sum(1 for run in runs if run["row"] == name) - len(mine)
            summary[name] = cells
        return summary

    def write_report(self, out: Path, runs: list[dict], summary: dict, data: Bunch) -> dict[str, Path]:
        """Write ``prior_shift.md``, ``results.json`` and ``population.png``; return their paths."""
        paths = {
            "table": out / "prior_shift.md",
            "results": out / "results.json",
            "figure": out / "population.png",
        }
        with atomic_write(paths["table"]) as temporary:
            temporary.write_text(self.format_table(summary))
        results = {
            "config": asdict(self),
            "truth": data.truth.weights.tolist(),
            "summary": summary,
            "runs": [{k: v for k, v in run.items() if k != "predictions"} for run in runs],
        }
        with atomic_write(paths["results"]) as temporary:
            temporary.write_text(json.dumps(results, indent=1))
        figure = self.draw_populations(runs, data.truth)
        with atomic_write(paths["figure"]) as temporary:
            figure.savefig(temporary, dpi=110)
        return paths

    def format_table(self, summary: dict) -> str:
        """The table as Markdown: the scores and the worst offset per θ_E bin of every row."""
        bins = [f"{low}–{high}″" for low, high in zip(RESIDUAL_BINS[:-1], RESIDUAL_BINS[1:], strict=True)]
        lines = [
            f"# Prior shift: the target's θ_E population `{self.shifted}` (mean ± std over seeds)",
            "",
            f"{self.n} lenses per domain (70/10/20 split), {self.epochs} epochs, {self.seeds} seeds, every "
            "row at the library's defaults. Scored on the shifted target's test set; R² (uniform) on the "
            "target's test set with the source's population. Offsets: the signed median fractional "
            "residual per true θ_E bin, of the seed furthest from 0. Population TV: the estimate's total "
            "variation distance from the true population in 0.25″ bins.",
            "",
            "| row | RMSE | R² | R² (uniform) | population TV | " + " | ".join(bins) + " |",
            "|---|---|---|---|---|" + "---|" * len(bins),
        ]
        for name, cells in summary.items():
            offsets = ["-" if o is None else f"{o:+.3f}" for o in cells["worst_offset"]]
            tv = format_mean_std(cells["population_tv"]) if "population_tv" in cells else "-"
            scores = [format_mean_std(cells[key]) for key in ("rmse", "r2", "r2_unshifted")]
            lines.append(f"| {self.row_label(name)} | " + " | ".join([*scores, tv, *offsets]) + " |")
        return "\n".join(lines) + "\n"

    @staticmethod
    def row_label(name: str) -> str:
        """A row's label: the method's, and what the row adapts to."""
        labels = {
            "": "adapted without the shift",
            "-shift": "adapted with the shift",
            "-correct": "with the shift, predictions corrected to the estimate",
            "-adapt": "with the shift, trained under the estimate",
            "-adapt-noshift": "without the shift, trained under the estimate",
            "-resimulate": "with the shift, trained on a source simulated under the estimate",
        }
        if name in ("none", "oracle"):
            return {"none": "No DA", "oracle": "Oracle (shifted target's labels)"}[name]
        method, _, suffix = name.partition("-")
        return f"{METHOD_LABELS[method]}, {labels['-' + suffix if suffix else '']}"

    def draw_populations(self, runs: list[dict], truth):
        """The estimated populations (mean over seeds per row) beside the truth and the source's prior."""
        from sklens._optional import import_optional
        from sklens.population import Population

        plt = import_optional("matplotlib.pyplot", extra="plot", user="the population figure")
        figure, ax = plt.subplots(figsize=(5.5, 3.6))
        ax.stairs(
            truth.weights / truth.widths, truth.edges, label="true population", linewidth=2.2, color="k"
        )
        prior = Population.uniform(truth.edges[0], truth.edges[-1], len(truth.weights))
        ax.stairs(
            prior.weights / prior.widths, prior.edges, label="simulation's prior", linestyle="--", color="0.5"
        )
        for name in self.rows():
            estimates = [
                r["population"]["weights"] for r in completed(runs) if r["row"] == name and "population" in r
            ]
            if estimates and name.endswith(("-correct", "-adapt", "-resimulate")):
                ax.stairs(np.mean(estimates, axis=0) / truth.widths, truth.edges, label=self.row_label(name))
        ax.set_xlabel("θ_E (″)")
        ax.set_ylabel("density")
        ax.legend(frameon=False, fontsize=7)
        figure.tight_layout()
        return figure


def measure_prior_shift(
    *,
    out: str | os.PathLike = "sklens-prior-shift",
    device: str = "auto",
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    **overrides,
) -> Bunch:
    """Train every method with and without the prior shift and prior-shift awareness; write the table.

    Parameters
    ----------
    out : path-like
        Output directory: ``prior_shift.md``, ``results.json``, ``population.png`` and ``runs/``.
    device : str
        ``'auto'``, ``'cpu'`` or ``'cuda'``.
    n_jobs : int, optional
        Parallel processes (default: every core).
    cache_dir : path-like, optional
        Simulation cache (default ``out/cache``).
    progress : bool
        Show progress bars.
    **overrides
        Fields of [`PriorShiftConfig`][sklens.experiments.prior_shift.PriorShiftConfig] (``n``,
        ``epochs``, ``seeds``, ``methods``, ``shifted``, ...); None keeps the default.

    Returns
    -------
    sklearn.utils.Bunch
        As [`run_experiment`][sklens.experiments.runner.run_experiment] returns it.
    """
    config = PriorShiftConfig().with_overrides(**overrides)
    return run_experiment(
        config, out=out, device=device, n_jobs=n_jobs, cache_dir=cache_dir, progress=progress
    )
