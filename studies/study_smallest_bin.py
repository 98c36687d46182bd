"""The smallest Einstein radii: can DANN's offset in the 0.5-1.0 arcsec bin be brought within +-0.05?

Trains DANN (domain BatchNorm, lr 3e-4, feature norm) and the oracle on the quick preset's data and
prints, per run, the target R^2 and the signed median fractional residual per true theta_E bin (the
offsets of sklens reproduce's table1.md), for three variants:

- ``base``: the gaussian head, as ``sklens reproduce --domain-batchnorm --lr 3e-4 --head gaussian
  --feature-norm``;
- ``d4``: the same, each training image (source and target) rotated by a random multiple of 90 degrees
  and mirrored at random (D4, ``sklens.nn.rotation.SquareGroup``) at every step; theta_E is unchanged
  by both, the test images are not transformed;
- ``flow``: the flow head, its offsets for three point estimates of the posterior: the mean (what
  ``predict`` returns), the median of 400 draws, and the mode (the largest density on a 0.005 arcsec
  grid over 0.3-3.3 arcsec). With a uniform prior the mode is the likelihood's peak, which is not
  pulled towards the prior's interior as the mean is.

Two options apply to any variant but ``flow``: ``--targets`` trains on more lens parameters than
theta_E (the lens centre and ellipticity as auxiliary targets; offsets are theta_E's), and
``--members K`` trains each run as a K-member ensemble of seeds seed, ..., seed + K - 1 and scores the
members' mean.

Figures are in docs/studies/smallest-bin.md. Each run takes 40-370 s on one thread.

    PYTHONPATH=. python studies/study_smallest_bin.py --cache-dir quick-cache --variant d4 \\
        --methods dann oracle --seeds 0 1 2
    PYTHONPATH=. python studies/study_smallest_bin.py --cache-dir quick-cache --methods dann \\
        --targets theta_E center_x center_y e1 e2 --members 3 --seeds 0 3 6
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from sklearn.metrics import r2_score
from torch import nn

from sklens.experiments.data import load_scaled_domains
from sklens.experiments.report import binned_fractional_residual
from sklens.experiments.reproduce import resolve_config
from sklens.experiments.runner import use_domain_statistics
from sklens.nn.rotation import SquareGroup

MODE_GRID = np.linspace(0.3, 3.3, 601)


class RandomSquareSymmetry(nn.Module):
    """In training, each row transformed by a random element of D4; at prediction, the identity."""

    def __init__(self) -> None:
        super().__init__()
        self.group = SquareGroup("D4")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        views = torch.stack([self.group.act(g, x) for g in range(len(self.group))])
        choice = torch.randint(len(self.group), (len(x),), device=x.device)
        return views[choice, torch.arange(len(x), device=x.device)]


def with_random_symmetry(model):
    """``model`` whose network starts with ``RandomSquareSymmetry``."""
    base = type(model)

    def _build_network(self):
        network = base._build_network(self)
        network.features = nn.Sequential(RandomSquareSymmetry(), *network.features)
        return network

    model.__class__ = type(f"D4{base.__name__}", (base,), {"_build_network": _build_network})
    return model


def offsets(y: np.ndarray, predictions: np.ndarray) -> dict:
    bins = binned_fractional_residual(y, predictions)
    return {
        "r2": round(float(r2_score(y, predictions)), 4),
        "offsets": [round(b["median_fractional_residual"], 3) for b in bins],
    }


def point_estimates(model, X: np.ndarray, head: str) -> dict[str, np.ndarray]:
    if head != "flow":
        return {"mean": model.predict(X)}
    log_density = np.stack([model.log_likelihood(X, np.full(len(X), value)) for value in MODE_GRID])
    return {
        "mean": model.predict(X),
        "median": np.median(model.sample_posterior(X, 400, random_state=0), axis=0),
        "mode": MODE_GRID[log_density.argmax(axis=0)],
    }


def first_column(values: np.ndarray) -> np.ndarray:
    """theta_E's column of (n,) or (n, k) values (theta_E comes first)."""
    return np.asarray(values).reshape(len(values), -1)[:, 0]


def run(method: str, seed: int, variant: str, data, members: int = 1) -> dict:
    head = "flow" if variant == "flow" else "gaussian"
    config = resolve_config(
        "quick", methods=(method,), domain_batchnorm=True, lr=3e-4, head=head, feature_norm=True
    )
    row = config.rows()[method]
    model = row.make_estimator(seed, n_members=members, device="cpu")
    if variant == "d4":
        model = with_random_symmetry(model)
    row.fit(model, data)
    X, y = data.test["target"]
    estimates = point_estimates(use_domain_statistics(model, "target"), X, head)
    per_estimate = {
        name: offsets(first_column(y), first_column(predictions)) for name, predictions in estimates.items()
    }
    y_src = data.train["source"][1]
    targets = y_src.shape[1] if y_src.ndim == 2 else 1
    record = {"method": method, "seed": seed, "variant": variant, "members": members, "targets": targets}
    return {**record, **per_estimate}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--variant", choices=("base", "d4", "flow"), default="base")
    parser.add_argument("--methods", nargs="+", default=["dann", "oracle"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--targets", nargs="+", default=["theta_E"], help="theta_E first")
    parser.add_argument("--members", type=int, default=1)
    args = parser.parse_args(argv)
    if args.targets[0] != "theta_E":
        parser.error("--targets must start with theta_E, whose offsets are printed.")
    if args.variant == "flow" and (len(args.targets) > 1 or args.members > 1):
        parser.error("the flow variant scores one model of theta_E alone: no --targets or --members.")
    torch.set_num_threads(1)
    config = resolve_config("quick")
    data = load_scaled_domains(
        config.n,
        data_seed=config.data_seed,
        scaling=config.scaling,
        cache_dir=args.cache_dir,
        progress=False,
        targets=args.targets,
    )
    for method in args.methods:
        for seed in args.seeds:
            print(json.dumps(run(method, seed, args.variant, data, args.members)), flush=True)


if __name__ == "__main__":
    main()
