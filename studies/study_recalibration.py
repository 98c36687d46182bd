"""Recalibrating the stored models of ``sklens uncertainty`` on labelled held-out lenses.

For each run of an ``sklens uncertainty --out DIR`` directory (its ``runs/*/model.pkl``), prints the
68% and 95% coverage of every parameter on the target's test split (800 lenses at the quick preset's
size) for the model as trained, and for ``sklens.calibration.RecalibratedRegressor`` (both methods,
``scale`` and ``quantile``; the ``factor`` rows are the scale factors) fitted on

- ``source``: the source domain's labelled validation split (400 lenses), predicted with the source's
  BatchNorm statistics: what a label-free study can do;
- ``target-N``: the first N lenses of the target's validation split, standing for N survey lenses with
  measured parameters (say, lens models from higher-resolution follow-up).

The last line of each block is the mean over the runs. Figures are in docs/studies/recalibration.md;
at the quick preset's size a 3-member ensemble takes 8-10 min per run with the flow
head and 1-2 min with the gaussian head, on one thread.

    PYTHONPATH=. python studies/study_recalibration.py --runs unc-dann-flow-fn \\
        --cache-dir quick-cache --target-lenses 100 400
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import numpy as np
import torch

from sklens.calibration import RecalibratedRegressor
from sklens.experiments.data import load_scaled_domains
from sklens.experiments.runner import use_domain_statistics
from sklens.metrics import interval_coverage

N_SAMPLES = 300
LEVELS = (0.68, 0.95)
METHODS = ("scale", "quantile")


def target_coverage(model, data) -> np.ndarray:
    """(levels, k) coverage of ``model``'s samples on the target's test split."""
    X, y = data.test["target"]
    return interval_coverage(y, samples=model.sample_posterior(X, N_SAMPLES, random_state=0), levels=LEVELS)


def recalibrated(model, data, domain: str, n_lenses: int | None, method: str) -> RecalibratedRegressor:
    """``model`` recalibrated on ``domain``'s validation split (its first ``n_lenses`` rows), then set
    to predict with the target's BatchNorm statistics (the wrapper holds the model itself)."""
    X, y = data.validation[domain]
    calibrated = RecalibratedRegressor(
        use_domain_statistics(model, domain), method=method, n_samples=N_SAMPLES
    )
    calibrated.fit(X[:n_lenses], y[:n_lenses])
    use_domain_statistics(model, "target")
    return calibrated


def study_run(model_path: Path, data, target_lenses: list[int]) -> dict:
    model = use_domain_statistics(pickle.loads(model_path.read_bytes()), "target")
    rows = {"as trained": target_coverage(model, data)}
    variants = [("source", "source", None)] + [(f"target-{n}", "target", n) for n in target_lenses]
    for name, domain, n_lenses in variants:
        for method in METHODS:
            calibrated = recalibrated(model, data, domain, n_lenses, method)
            rows[f"{name} {method}"] = target_coverage(calibrated, data)
        rows[f"{name} factor"] = calibrated.scale_
    return {name: np.round(values, 3).tolist() for name, values in rows.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", required=True, help="an `sklens uncertainty --out` directory")
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--target-lenses", nargs="+", type=int, default=[100, 400])
    parser.add_argument("--only", nargs="+", help="names of the runs to study (default: every run)")
    args = parser.parse_args(argv)
    results = Path(args.runs) / "results.json"
    models = [
        path
        for path in sorted(Path(args.runs).glob("runs/*/model.pkl"))
        if args.only is None or path.parent.name in args.only
    ]
    if not results.is_file() or not models:
        parser.error(f"{args.runs} holds no results.json and runs/*/model.pkl of `sklens uncertainty`.")
    config = json.loads(results.read_text())["config"]
    if min(args.target_lenses) < 20:
        parser.error("--target-lenses: recalibration needs at least 20 labelled lenses.")
    torch.set_num_threads(1)
    data = load_scaled_domains(
        config["n"],
        data_seed=config["data_seed"],
        scaling=config["scaling"],
        cache_dir=args.cache_dir,
        progress=False,
        targets=config["targets"],
    )
    n_validation = len(data.validation["target"][1])
    if max(args.target_lenses) > n_validation:
        parser.error(f"--target-lenses: the target's validation split has {n_validation}.")
    studies = []
    for path in models:
        studies.append(study_run(path, data, args.target_lenses))
        print(json.dumps({"run": path.parent.name, **studies[-1]}), flush=True)
    mean = {name: np.round(np.mean([s[name] for s in studies], axis=0), 3).tolist() for name in studies[0]}
    print(json.dumps({"run": "mean", "parameters": config["targets"], **mean}), flush=True)


if __name__ == "__main__":
    main()
