"""A GridSearchCV over an MMD regressor inside a Pipeline, with the packed source + target form.

Rows whose label is NaN are unlabelled target images: the Pipeline normalises source and target rows
alike, and ``DomainStratifiedKFold`` keeps both domains in every cross-validation fold. The fold score
is the source R^2 (the target has no labels); for selection without target labels see
``examples/model_selection.py``.

Usage::

    python examples/grid_search_pipeline.py [--fast]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklens import MMDRegressor
from sklens.datasets import make_toy_lenses
from sklens.model_selection import DomainStratifiedKFold
from sklens.preprocessing import ImageNormalizer


def main(argv: list[str] | None = None) -> GridSearchCV:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", default=os.environ.get("SKLENS_FAST") == "1")
    args = parser.parse_args(argv)
    n, epochs = (120, 2) if args.fast else (600, 10)
    # The fast mode's folds have too few source rows to hold out the 20 that calibrate the spread.
    small = {"calibration_fraction": 0} if args.fast else {}
    source = make_toy_lenses(n, random_state=0)
    survey = make_toy_lenses(n, domain="target", random_state=1)
    X = np.concatenate([source.images, survey.images])
    y = np.concatenate([source.target, np.full(n, np.nan)])
    pipe = make_pipeline(ImageNormalizer(), MMDRegressor(max_epochs=epochs, random_state=0, **small))
    grid = {"mmdregressor__lr": [3e-4, 1e-3], "mmdregressor__lambda_da": [0.5, 1.4]}
    search = GridSearchCV(pipe, grid, cv=DomainStratifiedKFold(3, shuffle=True, random_state=0)).fit(X, y)
    print("best parameters:", search.best_params_, f"source R^2 {search.best_score_:.3f}")
    return search


if __name__ == "__main__":
    main()
