"""Training under a survey's population: how close does reweighting the source come to no shift?

On the prior-shift experiment's domains (``sklens prior-shift``: the paper's source, its target with
the source's population, and the same target with the log-normal population), trains DANN at the
library's defaults and prints, per run, the RMSE on the shifted target's test set and the offset per
true θ_E bin, for these variants:

- ``noshift``: adapted to the target without the shift (the reference the goal compares with);
- ``shift``: adapted to the shifted target;
- ``adapt``: ``PriorShiftRegressor(adapt=True)``, a second training under the first's estimate;
- ``refine``: the same with ``adapt_start=5`` (the estimate refined every epoch from the 5th on);
- ``truth``: the source drawn with weights π_t / π_s of the TRUE population from the first epoch, the
  ceiling of any estimate (it uses the unlabelled images' true θ_E, which a survey does not have).

Figures are in docs/studies/prior-shift-reweighting.md. One training takes 80-170 s on one thread.

    PYTHONPATH=. python studies/study_prior_shift_reweighting.py --cache-dir ps-cache --seeds 0 1 2 \\
        --out prior-shift-reweighting.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch

from sklens.callbacks import PopulationReweighting
from sklens.experiments.prior_shift import POPULATION_BINS, PriorShiftConfig
from sklens.experiments.report import binned_fractional_residual
from sklens.nn.sampling import PopulationSampler
from sklens.population import Population
from sklens.prior_shift import PriorShiftRegressor
from sklens.regression import DANNRegressor

VARIANTS = ("noshift", "shift", "adapt", "refine", "truth")


def fit_variant(variant: str, seed: int, data, epochs: int):
    """The fitted model of ``variant`` (see the module's description) and its estimate, if any."""
    X, y = data.train["source"]
    unlabelled = data.train["target" if variant == "noshift" else "shifted"][0]
    model = DANNRegressor(max_epochs=epochs, random_state=seed)
    if variant in ("adapt", "refine"):
        start = 5 if variant == "refine" else None
        bins = (POPULATION_BINS[0], POPULATION_BINS[-1])
        model = PriorShiftRegressor(model, bins=POPULATION_BINS, support=bins, adapt=True, adapt_start=start)
    elif variant == "truth":
        prior = Population.from_values(y, POPULATION_BINS, name="theta_E")
        sampler = PopulationSampler()
        weights = PopulationReweighting(unlabelled, 0, prior, sampler, start=None, initial=data.truth)
        model.set_params(
            callbacks=[("population_reweighting", weights)],
            iterator_train__shuffle=False,
            iterator_train__sampler=sampler,
        )
    model.fit(X, y, X_tgt=unlabelled)
    return model, getattr(model, "population_", None)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", help="the simulation cache (shared with sklens prior-shift)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--n", type=int, default=4000, help="lenses per domain")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--data-seed", type=int, default=10)
    parser.add_argument("--out", help="a JSON-lines file each run is appended to")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    config = PriorShiftConfig(n=args.n, epochs=args.epochs, methods=("dann",), data_seed=args.data_seed)
    data = config.load_data(cache_dir=args.cache_dir, progress=False)
    X_test, y_test = data.test["shifted"]
    results = []
    for seed in args.seeds:
        for variant in args.variants:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model, population = fit_variant(variant, seed, data, args.epochs)
            predicted = model.predict(X_test)
            bins = binned_fractional_residual(y_test, predicted)
            result = {
                "variant": variant,
                "seed": seed,
                "rmse": float(np.sqrt(np.mean((predicted - y_test) ** 2))),
                "offsets": [b["median_fractional_residual"] for b in bins],
                "population_tv": None if population is None else population.total_variation(data.truth),
                "seconds": time.perf_counter() - start,
            }
            print(json.dumps(result), flush=True)
            if args.out:
                with open(args.out, "a") as stream:
                    stream.write(json.dumps(result) + "\n")
            results.append(result)
    return results


if __name__ == "__main__":
    main()
