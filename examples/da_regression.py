"""Domain-adaptive regression of the Einstein radius on simulated lenses.

Trains no adaptation, DANN and MMD, each at the library's defaults, on deeplenstronomy's paper-source
domain (labelled) and paper-target domain (unlabelled DES-like images), scales each domain by its own
pixel scale, and prints the target R^2 of each. ``--fast`` (or ``SKLENS_FAST=1``) uses the toy lenses
of ``sklens.datasets`` instead and runs in seconds.

Usage::

    python examples/da_regression.py [--n 3000] [--epochs 15] [--fast]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from sklens import CNNRegressor, DANNRegressor, MMDRegressor


def load_simulated(n: int) -> tuple:
    from sklens.simulation import load_paper_domains

    domains = load_paper_domains(n, n_jobs=2, cache_dir="sklens-cache")
    source, target = domains.source, domains.target
    # Each domain divided by its own pixel scale: a statistic of unlabelled images only.
    s_src, s_tgt = source.train.images.std(), target.train.images.std()
    return (
        source.train.images / s_src,
        source.train.target,
        target.train.images / s_tgt,
        target.test.images / s_tgt,
        target.test.target,
    )


def load_toy() -> tuple:
    from sklens.datasets import make_toy_lenses

    source = make_toy_lenses(300, random_state=0)
    survey = make_toy_lenses(300, domain="target", random_state=1)
    test = make_toy_lenses(200, domain="target", random_state=2)
    return source.images, source.target, survey.images, test.images, test.target


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="lenses per domain")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--fast", action="store_true", default=os.environ.get("SKLENS_FAST") == "1")
    args = parser.parse_args(argv)
    X_src, y_src, X_tgt, X_test, y_test = load_toy() if args.fast else load_simulated(args.n)
    epochs = 8 if args.fast else args.epochs
    scores = {}
    for cls in (CNNRegressor, DANNRegressor, MMDRegressor):
        model = cls(max_epochs=epochs, random_state=0).fit(X_src, y_src, X_tgt=X_tgt)
        scores[cls.__name__] = model.score(X_test, y_test)
        print(f"{cls.__name__:14s} target R^2 = {scores[cls.__name__]:.3f}")
    return scores


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
