"""Lens finding with a plain and two exactly rotation-invariant CNNs (Ivashkov 2022 reproduction).

The data are split 56/14/30 (train/validation/test) as in the seed: 30% is held out for testing and
the classifiers' internal stratified validation split takes 20% of the rest for early stopping. Each
model is trained and scored on the test set: accuracy, ROC AUC, and the rotation spread (mean and
maximum standard deviation of the predicted lens probability over the four 90-degree rotations).
With ``--plot FILE`` the ROC curves and the rotation spread of every model are drawn to FILE.

Usage::

    python examples/lens_finding.py                     # 'lens-finding' simulation, CPU-sized nets
    python examples/lens_finding.py --jobs 2 --plot lens_finding.png
    python examples/lens_finding.py --data toy          # sklens.datasets.make_toy_lens_finding instead
    python examples/lens_finding.py --width-divisor 1   # the paper's 27-million-parameter widths
    python examples/lens_finding.py --fast              # seconds, toy data; also SKLENS_FAST=1

The simulated images are in e-/s with bright cores; they go through ``np.arcsinh`` (a
``FunctionTransformer`` in a pipeline) before the network. The toy images (peak about 1) do not.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch.dataset import ValidSplit

from sklens import LensClassifier, RotInvariantLensClassifier
from sklens.callbacks import EpochProgressBar
from sklens.datasets import make_toy_lens_finding
from sklens.metrics import rotation_std
from sklens.nn.lensfinder import count_parameters

PAPER_FILTERS = (32, 64, 128)
PAPER_HIDDEN = (900, 900)
MODEL_NAMES = {
    "plain": "LensClassifier",
    "input": "RotInvariant input C4",
    "group": "RotInvariant group C4",
}
MODELS = {
    "plain": LensClassifier,
    "input": lambda **kw: RotInvariantLensClassifier(invariance="input", **kw),
    "group": lambda **kw: RotInvariantLensClassifier(invariance="group", **kw),
}
FAST = {"n_samples": 160, "image_size": 20, "width_divisor": 8, "max_epochs": 2}


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """Return images (n, 3, S, S) float32 and 0/1 targets (simulation or toy generator)."""
    n_samples, random_state = args.n_samples, args.random_state
    if args.data == "simulation":
        from sklens.simulation import simulate_lenses

        data = simulate_lenses(
            "lens-finding", n_samples, random_state=random_state, n_jobs=args.jobs, cache_dir=args.cache_dir
        )
    else:
        data = make_toy_lens_finding(n_samples, image_size=args.image_size, random_state=random_state)
    return np.asarray(data.images, dtype=np.float32), np.asarray(data.target)


def make_models(args: argparse.Namespace) -> dict:
    """The three classifiers, with the paper's widths divided by ``args.width_divisor``."""
    common = {
        "n_filters": tuple(max(1, f // args.width_divisor) for f in PAPER_FILTERS),
        "hidden": tuple(max(1, h // args.width_divisor) for h in PAPER_HIDDEN),
        "max_epochs": args.max_epochs,
        "patience": args.patience,
        "train_split": ValidSplit(0.2, stratified=True, random_state=args.random_state),
        "random_state": args.random_state,
        "verbose": args.verbose,
    }
    models = {
        name: MODELS[key](**common, callbacks=progress_bar(name, args.verbose))
        for key, name in MODEL_NAMES.items()
        if key in args.models
    }
    if args.data == "simulation":
        return {name: make_pipeline(FunctionTransformer(np.arcsinh), m) for name, m in models.items()}
    return models


def progress_bar(name: str, verbose: int) -> list:
    """An epoch progress bar with an ETA, unless skorch prints every epoch (``--verbose 1``)."""
    return [] if verbose else [("progress", EpochProgressBar(name))]


def evaluate(model, X_train, y_train, X_test, y_test) -> dict:
    """Fit ``model``; return its test scores, parameter count, epochs, fit time and per-image arrays."""
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - start
    proba = model.predict_proba(X_test)[:, 1]
    spread = rotation_std(model, X_test)
    classifier = model[-1] if isinstance(model, Pipeline) else model
    return {
        "parameters": count_parameters(classifier.module_),
        "epochs": len(classifier.history),
        "accuracy": accuracy_score(y_test, model.predict(X_test)),
        "roc_auc": roc_auc_score(y_test, proba),
        "spread_mean": float(spread.mean()),
        "spread_max": float(spread.max()),
        "fit_seconds": fit_seconds,
        "proba": proba,
        "rotation_std": spread,
    }


def format_table(rows: dict) -> str:
    """Markdown table of the results, one row per model."""
    lines = [
        "| model | parameters | epochs | test accuracy | ROC AUC | rotation spread mean | "
        "rotation spread max | fit time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['parameters']:,} | {r['epochs']} | {r['accuracy']:.4f} | "
            f"{r['roc_auc']:.4f} | {r['spread_mean']:.2e} | {r['spread_max']:.2e} | "
            f"{r['fit_seconds']:.0f} |"
        )
    return "\n".join(lines)


def save_plot(path: str, y_test: np.ndarray, rows: dict) -> None:
    """Draw the ROC curves and rotation spread of every model to ``path``."""
    from sklens.plotting import plot_lens_finding

    fig = plot_lens_finding(
        y_test,
        {name: r["proba"] for name, r in rows.items()},
        {name: r["rotation_std"] for name, r in rows.items()},
    )
    fig.savefig(path, dpi=120)
    print(f"figure written to {path}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("simulation", "toy"), help="default: simulation")
    parser.add_argument("--cache-dir", default=None, help="simulation chunk cache")
    parser.add_argument("--n-samples", type=int, default=6000)
    parser.add_argument("--jobs", type=int, default=1, help="simulation processes")
    parser.add_argument("--image-size", type=int, default=60, help="toy data only")
    parser.add_argument("--width-divisor", type=int, default=4, help="1 = the paper's widths")
    parser.add_argument("--max-epochs", type=int, default=35)
    parser.add_argument("--patience", type=int, default=5, help="early stopping")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--models", nargs="+", choices=tuple(MODELS), default=list(MODELS), help="default: all"
    )
    parser.add_argument("--verbose", type=int, default=0, help="1 prints every epoch")
    parser.add_argument("--plot", default=None, help="write ROC curves and rotation spread to this image")
    parser.add_argument("--fast", action="store_true", help="tiny toy run (also SKLENS_FAST=1)")
    args = parser.parse_args(argv)
    fast = args.fast or os.environ.get("SKLENS_FAST") == "1"
    if fast:
        vars(args).update(FAST)
    if args.data is None:
        args.data = "toy" if fast else "simulation"
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the experiment, print the table and return the results per model."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    X, y = load_data(args)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=args.random_state
    )
    models = make_models(args)
    rows = {name: evaluate(m, X_train, y_train, X_test, y_test) for name, m in models.items()}
    print(
        f"data={args.data} n={len(X)} images={X.shape[1:]} split 56/14/30 "
        f"(test n={len(X_test)}), width divisor {args.width_divisor}"
    )
    print(format_table(rows))
    if args.plot:
        save_plot(args.plot, y_test, rows)
    return rows


if __name__ == "__main__":
    main()
