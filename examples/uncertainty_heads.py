"""Error bars that hold on survey images: a gaussian head with and without domain adaptation.

Trains ``CNNRegressor(head='gaussian')`` (no adaptation) and ``MMDRegressor(head='gaussian')`` on
simulated source lenses (and unlabelled target images); the gaussian head is the default on images,
named here because it is what the example is about, and each model otherwise keeps its defaults,
which calibrate the spread on a tenth of the source rows held out at fit. It then reports on labelled
target test images each model's R^2, mean absolute error, and the empirical coverage of its 68% and
95% intervals (``sklens.metrics.interval_coverage``), and the same for the MMD model recalibrated on
100 labelled survey lenses (``sklens.calibration.RecalibratedRegressor``, standing for lenses with
measured parameters: a spread calibrated on the source does not know the survey's extra error);
``--plot FILE`` draws their calibration curves
(``sklens.plotting.plot_calibration``). ``--fast`` (or ``SKLENS_FAST=1``) uses the toy lenses of
``sklens.datasets`` and runs in seconds; otherwise the paper's simulated domains (``sklens[sim]``).
``sklens uncertainty`` runs the full study (several parameters, the flow head, DANN, seeds).

Usage::

    python examples/uncertainty_heads.py [--n 3000] [--epochs 15] [--plot calibration.png] [--fast]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from sklearn.metrics import r2_score

from sklens import CNNRegressor, MMDRegressor
from sklens.calibration import RecalibratedRegressor
from sklens.metrics import calibration_curve, interval_coverage

N_KNOWN_LENSES = 100  # survey lenses with measured parameters, for recalibration


def load(fast: bool, n: int) -> tuple:
    if fast:
        from sklens.datasets import make_toy_lenses

        source = make_toy_lenses(300, random_state=0)
        survey = make_toy_lenses(300, domain="target", random_state=1)
        test = make_toy_lenses(200, domain="target", random_state=2)
        known = make_toy_lenses(N_KNOWN_LENSES, domain="target", random_state=3)
        return (
            source.images,
            source.target,
            survey.images,
            test.images,
            test.target,
            known.images,
            known.target,
        )
    from sklens.simulation import load_paper_domains

    domains = load_paper_domains(n, n_jobs=2, cache_dir="sklens-cache")
    source, target = domains.source, domains.target
    s_src, s_tgt = source.train.images.std(), target.train.images.std()  # unlabelled statistics only
    return (
        source.train.images / s_src,
        source.train.target,
        target.train.images / s_tgt,
        target.test.images / s_tgt,
        target.test.target,
        target.validation.images[:N_KNOWN_LENSES] / s_tgt,
        target.validation.target[:N_KNOWN_LENSES],
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="lenses per domain")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--plot", metavar="FILE", help="write the calibration curves to FILE")
    parser.add_argument("--fast", action="store_true", default=os.environ.get("SKLENS_FAST") == "1")
    args = parser.parse_args(argv)
    X_src, y_src, X_tgt, X_test, y_test, X_known, y_known = load(args.fast, args.n)
    epochs = 8 if args.fast else args.epochs
    models = {
        name: cls(head="gaussian", max_epochs=epochs, random_state=0).fit(X_src, y_src, X_tgt=X_tgt)
        for name, cls in (("no adaptation", CNNRegressor), ("MMD", MMDRegressor))
    }
    models["MMD, recalibrated"] = RecalibratedRegressor(models["MMD"]).fit(X_known, y_known)
    results, curves = {}, {}
    for name, model in models.items():
        mean, std = model.predict(X_test, return_std=True)
        coverage = interval_coverage(y_test, y_mean=mean, y_std=std, levels=(0.68, 0.95))
        results[name] = {
            "r2": r2_score(y_test, mean),
            "mean_abs_error": float(np.abs(mean - y_test).mean()),
            "median_std": float(np.median(std)),
            "coverage_68": float(coverage[0]),
            "coverage_95": float(coverage[1]),
        }
        curves[name] = calibration_curve(y_test, y_mean=mean, y_std=std)
        r = results[name]
        print(
            f"{name:>17}: target R^2 {r['r2']:.3f}, mean |error| {r['mean_abs_error']:.3f}, "
            f"68% interval covers {r['coverage_68']:.0%}, 95% covers {r['coverage_95']:.0%}"
        )
    if args.plot:
        import matplotlib.pyplot as plt

        from sklens.plotting import plot_calibration

        figure, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        for ax, (name, curve) in zip(axes, curves.items(), strict=True):
            plot_calibration(curve, parameter_names=["theta_E"], ax=ax).set_title(name)
        figure.tight_layout()
        figure.savefig(args.plot, dpi=110)
    return results


if __name__ == "__main__":
    main()
