"""The reproduction's report: ``table1.md``, ``results.json`` and ``figure2.png``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sklens._atomic import atomic_write
from sklens.experiments.paper_config import LIBRARY_PREFIX, PAPER_TABLE1, row_label
from sklens.experiments.runner import completed, format_mean_std

if TYPE_CHECKING:
    from sklens.experiments.reproduce import ReproductionConfig

#: Figure 2's rows: the paper's no adaptation and DANN, and the library's DANN beside them.
FIGURE_METHODS = ("none", "dann", "mmd", f"{LIBRARY_PREFIX}dann")
RESIDUAL_BINS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
# The offset a method may leave in a bin (the studies' offset goal): |median fractional residual| <= 0.05.
OFFSET_TOLERANCE = 0.05


def binned_fractional_residual(y_true: np.ndarray, y_pred: np.ndarray, bins=RESIDUAL_BINS) -> list[dict]:
    """Per bin of the true value (the last bin closed): the mean absolute fractional residual
    |pred - true| / pred (the spread of Figure 2's lower panels) and its signed median (the offset)."""
    from sklens.plotting import fractional_residual

    y_true = np.asarray(y_true, float).ravel()
    residual = fractional_residual(y_true, y_pred)
    rows = []
    for low, high in zip(bins[:-1], bins[1:], strict=True):
        inside = (y_true >= low) & ((y_true < high) | ((high == bins[-1]) & (y_true <= high)))
        values = residual[inside]
        rows.append(
            {
                "low": low,
                "high": high,
                "n": int(inside.sum()),
                "mean_abs_fractional_residual": float(np.nanmean(np.abs(values))) if inside.any() else None,
                "median_fractional_residual": float(np.nanmedian(values)) if inside.any() else None,
            }
        )
    return rows


def write_report(
    out: Path, config: ReproductionConfig, runs: list[dict], summary: dict, data_description: dict
) -> dict:
    """Write the table, the JSON results and the figure; return their paths."""
    paths = {"table": out / "table1.md", "results": out / "results.json", "figure": out / "figure2.png"}
    _write_text(paths["table"], format_table(config, summary, runs))
    results = {
        "config": asdict(config),
        "data": data_description,
        "summary": summary,
        "paper_table1": PAPER_TABLE1,
        "runs": [{k: v for k, v in run.items() if k != "predictions"} for run in runs],
    }
    _write_text(paths["results"], json.dumps(results, indent=1))
    figure = draw_figure2(runs)
    if figure is None:
        paths.pop("figure")
    else:
        with atomic_write(paths["figure"]) as temporary:
            figure.savefig(temporary, dpi=110)
    return paths


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as temporary:
        temporary.write_text(text)


def format_table(config: ReproductionConfig, summary: dict, runs: list[dict]) -> str:
    """Table 1 as Markdown: our pooled R^2 beside the paper's, and per-bin residuals."""
    configured = config.configured_methods()
    header = (
        f"{config.n} lenses per domain (70/10/20 split), {config.epochs} epochs, {config.seeds} seeds, "
        f"{config.describe_members()}scaling `{config.scaling}`, batch {config.batch_size}"
    )
    if configured:  # the settings of the rows configured as the paper's, where the table has any
        header += (
            f", MMD bandwidth `{config.mmd_bandwidth}`, "
            f"domain BatchNorm {'on' if config.domain_batchnorm else 'off'}, {config.head} head, "
            f"feature norm {'on' if config.feature_norm else 'off'}, "
            f"lr {config.describe_lr()} (the rows configured as the paper's)"
        )
    header += ". "
    if len(configured) < len(config.methods):
        header += (
            'Rows marked "sklens defaults" are the library\'s estimators as constructed by default, '
            "given only this size. "
        )
    lines = [
        "# Table 1: R² on the test sets (mean ± std over seeds)",
        "",
        header + "R² pooled over each test set; the paper's columns are its Table 1 for the same method.",
        "",
    ]
    # The gap closed needs no adaptation and the oracle of the row's family (the paper's, or the
    # library's); a table with neither for any row leaves the column out.
    with_gap = any(cells.get("gap_closed") is not None for cells in summary.values())
    gap_header = " target gap closed |" if with_gap else ""
    lines += [
        f"| method | source R² | target R² |{gap_header} paper source | paper target |",
        "|---|---|---|" + ("---|" if with_gap else "") + "---|---|",
    ]
    for method, cells in summary.items():
        paper = PAPER_TABLE1.get(method.removeprefix(LIBRARY_PREFIX))
        paper_cells = (
            [f"{paper[d][0]:.2f} ± {paper[d][1]:.2g}" for d in ("source", "target")] if paper else ["-", "-"]
        )
        gap = cells.get("gap_closed")
        failed = cells.get("failed", 0)
        label = row_label(method) + (f" ({failed} of {config.seeds} seeds diverged)" if failed else "")
        gap_cell = (" -" if gap is None else f" {gap:.0%}") + " |" if with_gap else ""
        lines.append(
            f"| {label} | {format_mean_std(cells['source'])} | {format_mean_std(cells['target'])} |"
            f"{gap_cell} {paper_cells[0]} | {paper_cells[1]} |"
        )
    covered = {method: cells["coverage"] for method, cells in summary.items() if "coverage" in cells}
    if covered:
        lines += [
            "",
            "## Coverage of the central 68% and 95% intervals (nominal 0.68 and 0.95)",
            "",
            "| method | source 68% | source 95% | target 68% | target 95% |",
            "|---|---|---|---|---|",
        ]
        for method, coverage in covered.items():
            cells = [format_mean_std(c) for d in ("source", "target") for c in coverage[d]]
            lines.append(f"| {row_label(method)} | " + " | ".join(cells) + " |")
    diverged = [run for run in runs if "failed" in run]
    if diverged:
        lines += ["", "## Runs that diverged (kept on disk; delete a run's folder to train it again)", ""]
        lines += [f"- {row_label(r['method'])}, seed {r['seed']}: {r['failed']}" for r in diverged]
    lines += ["", "## Mean |fractional residual| per true θ_E bin (seed 0)", ""]
    lines += _residual_table(runs)
    lines += [
        "",
        "## Offset on the target: median fractional residual (pred − true) / pred per true θ_E bin",
        "",
        f"The seed furthest from 0 in each bin; * marks a bin outside ±{OFFSET_TOLERANCE}.",
        "",
    ]
    lines += _offset_table(runs, summary)
    return "\n".join(lines) + "\n"


def _offset_table(runs: list[dict], summary: dict) -> list[str]:
    """Per method and bin, the target's signed median residual of the seed furthest from 0."""
    bins = zip(RESIDUAL_BINS[:-1], RESIDUAL_BINS[1:], strict=True)
    lines = ["| method | " + " | ".join(f"{low}–{high}″" for low, high in bins) + " |"]
    lines.append("|---|" + "---|" * (len(RESIDUAL_BINS) - 1))
    for method in summary:
        per_seed = np.array(
            [_target_medians(run) for run in completed(runs) if run["method"] == method], dtype=float
        ).reshape(-1, len(RESIDUAL_BINS) - 1)
        cells = [_furthest_from_zero(column) for column in per_seed.T]
        lines.append(f"| {row_label(method)} | " + " | ".join(cells) + " |")
    return lines


def _target_medians(run: dict) -> list[float | None]:
    return [
        b["median_fractional_residual"] for b in binned_fractional_residual(*run["predictions"]["target"])
    ]


def _furthest_from_zero(values: np.ndarray) -> str:
    if not np.isfinite(values).any():
        return "-"
    value = values[np.nanargmax(np.abs(values))]
    return f"{value:+.3f}{'*' if abs(value) > OFFSET_TOLERANCE else ''}"


def _residual_table(runs: list[dict]) -> list[str]:
    first = [r for r in completed(runs) if r["seed"] == 0]
    if not first:
        return []
    bins = first[0]["residual_by_bin"]["source"]
    header = "| method | domain | " + " | ".join(f"{b['low']}–{b['high']}″" for b in bins) + " |"
    lines = [header, "|---|---|" + "---|" * len(bins)]
    for run in first:
        for domain in ("source", "target"):
            values = [b["mean_abs_fractional_residual"] for b in run["residual_by_bin"][domain]]
            cells = " | ".join("-" if v is None else f"{v:.3f}" for v in values)
            lines.append(f"| {row_label(run['method'])} | {domain} | {cells} |")
    return lines


def draw_figure2(runs: list[dict]):
    """Figure 2 of the paper from the seed-0 runs of no adaptation, DANN and MMD, and the library's
    DANN (those present)."""
    from sklens.plotting import plot_predictions_grid

    first = {r["method"]: r for r in completed(runs) if r["seed"] == 0 and r["method"] in FIGURE_METHODS}
    if not first:
        return None
    methods = [m for m in FIGURE_METHODS if m in first]
    predictions = {
        (row_label(m), domain): first[m]["predictions"][domain]
        for m in methods
        for domain in ("source", "target")
    }
    return plot_predictions_grid(
        predictions, rows=[row_label(m) for m in methods], columns=["source", "target"]
    )
