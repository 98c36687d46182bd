"""Choose the quick preset's learning rate per method by measurement, on data the table never sees.

Runs ``sklens reproduce`` (quick preset: 4,000 lenses per domain, 15 epochs, per-domain scaling) once
per learning rate, every method, on another draw of the simulated domains (``data_seed`` 11; the
reported table uses the paper's 10), and picks per method the rate with the highest mean target R^2
over the seeds. Choosing on target labels is legitimate here only because both domains are
simulations; it is a preset's default, not a model selection on survey data (for that, see
``sklens.model_selection``). Each rate's runs are stored by ``reproduce``, so the study resumes.

    PYTHONPATH=. python studies/study_quick_lr.py --out lr-study --cache-dir lr-study/cache
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sklens._atomic import atomic_write
from sklens.experiments.paper_config import METHOD_LABELS
from sklens.experiments.reproduce import reproduce

RATES = (6e-5, 1.5e-4, 3e-4, 1e-3)


def measure(
    out: Path, cache_dir: Path, rates, methods, *, data_seed: int, n_jobs: int, progress: bool = True, **sizes
) -> dict:
    """Target and source R^2 (mean and std over seeds) per method and learning rate; ``sizes``:
    ``n``, ``epochs``, ``seeds`` of `reproduce` (None: the quick preset's)."""
    table = {method: {} for method in methods}
    for rate in rates:
        result = reproduce(
            out=out / f"lr-{rate:g}",
            cache_dir=cache_dir,
            methods=tuple(methods),
            lr=rate,
            data_seed=data_seed,
            n_jobs=n_jobs,
            seeds_in_one_pass=False,
            progress=progress,
            **sizes,
        )
        for method in methods:
            runs = [r for r in result.runs if r["method"] == method]
            table[method][f"{rate:g}"] = {
                "target": result.summary[method]["target"],
                "source": result.summary[method]["source"],
                "failed": result.summary[method]["failed"],
                "target_per_seed": [r["r2"]["target"] if "r2" in r else None for r in runs],
                "train_seconds": [r.get("train_seconds") for r in runs],
            }
    return table


def choose(table: dict) -> dict:
    """Per method, the rate with the highest mean target R^2 over the seeds that did not diverge,
    among the rates where none diverged (a rate that diverges once is not a default)."""
    return {method: max(cells, key=lambda rate: _ranking(cells[rate])) for method, cells in table.items()}


def _ranking(cell: dict) -> tuple[bool, float]:
    mean = cell["target"]["mean"]
    return (cell["failed"] == 0 and mean is not None, -np.inf if mean is None else mean)


def _cell(cell: dict) -> str:
    text = (
        "-"
        if cell["target"]["mean"] is None
        else f"{cell['target']['mean']:.3f} ± {cell['target']['std']:.3f}"
    )
    return text + (f" ({cell['failed']} diverged)" if cell["failed"] else "")


def to_markdown(table: dict, chosen: dict, rates) -> str:
    header = "| method | " + " | ".join(f"lr {r:g}" for r in rates) + " | chosen |"
    lines = [header, "|" + "---|" * (len(rates) + 2)]
    for method, cells in table.items():
        row = [_cell(cells[f"{r:g}"]) for r in rates]
        lines.append(f"| {METHOD_LABELS[method]} | " + " | ".join(row) + f" | {chosen[method]} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("lr-study"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--rates", type=float, nargs="+", default=RATES)
    parser.add_argument("--methods", nargs="+", default=list(METHOD_LABELS))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--n", type=int, default=None, help="lenses per domain (default: the quick preset's)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the quick preset's")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--data-seed", type=int, default=11)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)
    cache_dir = args.cache_dir or args.out / "cache"
    table = measure(
        args.out,
        cache_dir,
        args.rates,
        args.methods,
        data_seed=args.data_seed,
        n_jobs=args.n_jobs,
        progress=not args.quiet,
        n=args.n,
        epochs=args.epochs,
        seeds=args.seeds,
    )
    chosen = choose(table)
    markdown = to_markdown(table, chosen, args.rates)
    with atomic_write(args.out / "summary.json") as temporary:
        temporary.write_text(json.dumps({"table": table, "chosen": chosen}, indent=1))
    with atomic_write(args.out / "summary.md") as temporary:
        temporary.write_text(markdown)
    print(markdown)
    return {"table": table, "chosen": chosen}


if __name__ == "__main__":
    main()
