"""Choose the regressors' defaults on images by measurement, on a draw of the domains no table reports.

A candidate default (``BASE``: domain-specific BatchNorm, the gaussian head, standardised features, Adam
at 3e-4, a tenth of the source held out to calibrate the spread) and variants that change one setting
each (``VARIANTS``) are trained for every adaptive method, no adaptation (without domain BatchNorm: a
true baseline) and the oracle (no adaptation on the target's labels), on another draw of the paper's
domains (``data_seed`` 11; Table 1 reports 10) at the quick preset's size (4,000 lenses per domain,
15 epochs, batch 32), seeds 0 and 1. Each run stores its result as soon as it is done, so the study
resumes; ``defaults.md`` is the table of target R^2 per method and variant. Choosing on target labels is
legitimate here only because both domains are simulations.

    PYTHONPATH=. python studies/study_defaults.py --cache-dir CACHE --out study-defaults [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.metrics import r2_score
from tqdm.auto import tqdm

from sklens._atomic import atomic_write
from sklens.experiments.data import load_scaled_domains
from sklens.metrics import interval_coverage
from sklens.regression import METHODS

#: The candidate default, every setting written out (the study does not depend on the library's).
BASE = {
    "domain_batchnorm": True,
    "head": "gaussian",
    "module__feature_norm": True,
    "lr": 3e-4,
    "lr_schedule": "constant",
    "calibration_fraction": 0.1,
}
#: One setting changed from ``BASE``, and the methods it is tried for (None: every method).
VARIANTS: dict[str, tuple[dict, tuple[str, ...] | None]] = {
    "base": ({}, None),
    "joint BatchNorm": ({"domain_batchnorm": False}, ("dann", "mmd", "coral", "rsd", "daregram")),
    "point head": ({"head": "point", "calibration_fraction": 0.0}, None),
    "no feature norm": ({"module__feature_norm": False}, None),
    "lr 1e-3": ({"lr": 1e-3}, None),
    "lr 1e-4": ({"lr": 1e-4}, ("dann", "mmd")),
    "no calibration": ({"calibration_fraction": 0.0}, ("dann", "mmd", "oracle")),
    "median bandwidth": ({"bandwidth": "median"}, ("mmd",)),
    "lambda 3": ({"lambda_da": 3.0}, ("dann", "mmd")),
    "lambda 0.1": ({"lambda_da": 0.1}, ("rsd",)),
    "cosine 3e-4": ({"lr_schedule": "cosine"}, ("mmd",)),
    "cosine 1e-3": ({"lr": 1e-3, "lr_schedule": "cosine"}, ("mmd",)),
    "constant 6e-5": ({"lr": 6e-5, "lr_schedule": "constant"}, ("mmd",)),
}
#: What each row trains: a regressor of ``METHODS`` and the labels it is fitted on.
ROWS = {
    "none": ("none", "source"),
    "dann": ("dann", "source"),
    "mmd": ("mmd", "source"),
    "coral": ("coral", "source"),
    "rsd": ("rsd", "source"),
    "daregram": ("daregram", "source"),
    "oracle": ("none", "target"),
}
#: No adaptation and the oracle never keep domain statistics (the oracle sees no source rows).
_WITHOUT_DOMAIN_BATCHNORM = ("none", "oracle")


def settings(row: str, variant: str) -> dict:
    """The estimator parameters of ``row`` in ``variant``."""
    params = {**BASE, **VARIANTS[variant][0]}
    if row in _WITHOUT_DOMAIN_BATCHNORM:
        params["domain_batchnorm"] = False
    return params


def tasks(rows, seeds, variants=tuple(VARIANTS)) -> list[tuple[str, str, int]]:
    """Every (row, variant, seed) the study trains, among ``variants``."""
    return [
        (row, variant, seed)
        for seed in seeds
        for row in rows
        for variant in variants
        if VARIANTS[variant][1] is None or row in VARIANTS[variant][1]
    ]


def run_one(
    row: str, variant: str, seed: int, data, epochs: int, out: Path, train_size: int | None = None
) -> dict:
    """Fit one run and store its target and source R^2 and coverage (68% and 95%) in ``out``; with
    ``train_size``, on the first ``train_size`` rows of each domain's training split."""
    import torch

    path = out / "runs" / f"{row}-{variant.replace(' ', '_')}-seed{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    torch.set_num_threads(1)
    method, labels = ROWS[row]
    params = settings(row, variant)
    model = METHODS[method](max_epochs=epochs, batch_size=32, random_state=seed, device="cpu", **params)
    X, y = (part[:train_size] for part in data.train[labels])
    start = time.perf_counter()
    model.fit(X, y, X_tgt=None if labels == "target" else data.train["target"][0][:train_size])
    result = {"row": row, "variant": variant, "seed": seed, "train_rows": len(X)}
    result["train_seconds"] = time.perf_counter() - start
    for domain, (X_test, y_test) in data.test.items():
        model.set_params(predict_domain=domain)
        mean, std = model.predict(X_test, return_std=True)
        result[f"{domain}_r2"] = float(r2_score(y_test, mean))
        if (std > 0).all():
            coverage = interval_coverage(y_test, levels=(0.68, 0.95), y_mean=mean, y_std=std)
            result[f"{domain}_coverage"] = [float(c) for c in np.ravel(coverage)]
    result["spread_scale"] = [float(s) for s in model.spread_scale_]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as temporary:
        temporary.write_text(json.dumps(result, indent=1))
    return result


def to_markdown(results: list[dict], rows) -> str:
    """Target R^2 (mean ± std over seeds) per row and variant; the best variant of each row in bold."""
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in results)]
    lines = ["| row | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    for row in rows:
        cells, means = [], {}
        for variant in variants:
            values = [r["target_r2"] for r in results if r["row"] == row and r["variant"] == variant]
            if values:
                means[variant] = np.mean(values)
            cells.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "")
        best = max(means, key=means.get)
        cells = [f"**{c}**" if v == best else c for v, c in zip(variants, cells, strict=True)]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("study-defaults"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--data-seed", type=int, default=11)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated among {','.join(ROWS)}")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated (default: all)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--train-size", type=int, default=None, help="train on the first N rows of each training split"
    )
    args = parser.parse_args(argv)
    rows = [row for row in args.rows.split(",") if row]
    unknown = [row for row in rows if row not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; choose among {list(ROWS)}")
    variants = [variant for variant in args.variants.split(",") if variant]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose among {list(VARIANTS)}")
    data = load_scaled_domains(args.n, data_seed=args.data_seed, cache_dir=args.cache_dir, n_jobs=args.n_jobs)
    todo = tasks(rows, args.seeds, variants)
    runs = Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(
        delayed(run_one)(row, variant, seed, data, args.epochs, args.out, args.train_size)
        for row, variant, seed in todo
    )
    results = list(tqdm(runs, total=len(todo), desc="runs"))
    with atomic_write(args.out / "defaults.md") as temporary:
        temporary.write_text(to_markdown(results, rows))
    print(to_markdown(results, rows))


if __name__ == "__main__":
    main()
