"""Choose domain-adaptation hyperparameters without target labels.

A GridSearchCV over MMD's ``lambda_da`` and learning rate in the packed source + target form, scored by
reverse validation (``sklens.model_selection.ReverseValidationScorer``), which needs no target labels;
the target R^2 of each candidate (which a survey would not have) is printed beside it for comparison.
``--fast`` (or ``SKLENS_FAST=1``) makes it small enough for the test suite.

Usage::

    python examples/model_selection.py [--fast]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from sklearn.model_selection import GridSearchCV

from sklens import MMDRegressor
from sklens.datasets import make_toy_lenses
from sklens.model_selection import DomainStratifiedKFold, ReverseValidationScorer


def main(argv: list[str] | None = None) -> GridSearchCV:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", default=os.environ.get("SKLENS_FAST") == "1")
    args = parser.parse_args(argv)
    n, epochs = (80, 2) if args.fast else (400, 10)
    # The fast mode's folds have too few source rows to hold out the 20 that calibrate the spread.
    small = {"calibration_fraction": 0} if args.fast else {}
    source = make_toy_lenses(n, random_state=0)
    survey = make_toy_lenses(n, domain="target", random_state=1)
    test = make_toy_lenses(n, domain="target", random_state=2)
    X = np.concatenate([source.images, survey.images])
    y = np.concatenate([source.target, np.full(n, np.nan)])
    grid = {"lambda_da": [0.3, 1.4], "lr": [3e-4, 1e-3]}
    search = GridSearchCV(
        MMDRegressor(max_epochs=epochs, random_state=0, **small),
        grid,
        scoring=ReverseValidationScorer(),
        cv=DomainStratifiedKFold(2, shuffle=True, random_state=0),
    ).fit(X, y)
    for params, score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
    ):
        oracle = (
            MMDRegressor(max_epochs=epochs, random_state=0, **small, **params)
            .fit(X, y)
            .score(test.images, test.target)
        )
        print(f"{params}: reverse validation {score:8.4f}   target R^2 (oracle) {oracle:.3f}")
    print("selected without target labels:", search.best_params_)
    return search


if __name__ == "__main__":
    main()
