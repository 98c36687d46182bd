"""From FITS cutouts on disk to Einstein-radius predictions, with a domain-adaptive Pipeline.

Writes labelled "simulation" cutouts and unlabelled, 10x fainter and noisier "survey" cutouts as FITS
files (big-endian float32, as archives store them), then fits
``Pipeline(FITSLoader, ImageNormalizer(scope='domain'), MMDRegressor)`` on the file paths in the packed
form (NaN label: a survey file) and predicts the survey files. ``--fast`` (or ``SKLENS_FAST=1``) makes it
small enough for the test suite.

Usage::

    python examples/fits_to_predictions.py [--out DIR] [--fast]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits
from sklearn.pipeline import make_pipeline

from sklens import MMDRegressor
from sklens.datasets import make_toy_lenses
from sklens.preprocessing import FITSLoader, ImageNormalizer


def write_cutouts(folder: Path, prefix: str, images: np.ndarray) -> list[str]:
    """One FITS file per cutout; returns their paths."""
    paths = []
    for i, image in enumerate(images):
        path = folder / f"{prefix}_{i:05d}.fits"
        fits.PrimaryHDU(image[0].astype(">f4")).writeto(path)
        paths.append(str(path))
    return paths


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="folder for the FITS files (default: a temporary one)")
    parser.add_argument("--fast", action="store_true", default=os.environ.get("SKLENS_FAST") == "1")
    args = parser.parse_args(argv)
    n, epochs = (200, 4) if args.fast else (600, 15)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.out or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        simulation = make_toy_lenses(n, random_state=0)
        survey = make_toy_lenses(2 * n, domain="target", random_state=1)
        survey.images *= 0.1  # survey cutouts are much fainter than the simulations
        sim_paths = write_cutouts(folder, "sim", simulation.images)
        survey_paths = write_cutouts(folder, "survey", survey.images)
        train, held_out = survey_paths[:n], survey_paths[n:]

        X = np.array(sim_paths + train)
        y = np.concatenate([simulation.target, np.full(len(train), np.nan)])  # NaN: unlabelled
        pipe = make_pipeline(
            FITSLoader(),
            ImageNormalizer(method="scale", scope="domain"),  # each domain by its own pixel scale
            MMDRegressor(max_epochs=epochs, random_state=0),
        )
        pipe.fit(X, y)
        predictions = pipe.predict(held_out)  # transform uses the target domain's statistics
        r2 = pipe.score(held_out, survey.target[n:])
    print(f"predicted theta_E of {len(predictions)} survey files; target R^2 = {r2:.3f}")
    return r2


if __name__ == "__main__":
    main()
