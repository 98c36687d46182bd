"""Why does MMD send the brightest images out, and which fix keeps them in?

Reads the models a reproduction stored (``OUT/runs/METHOD-seedS/model.pkl``) and, for each method, prints
on each test set: how many predictions are more than 1 arcsec off and the worst error, the feature norms
(median and 99th percentile, and the median over the badly predicted images), where the bad images sit
in their domain's total-flux distribution, the correlation of feature norm and flux, and, on the source,
the MMD kernels' base bandwidth over random joint batches (32 + 32 images) as the loss sees it in
training: its median and 95th percentile. Figures are in docs/studies/mmd-outliers.md.

    PYTHONPATH=. python studies/study_mmd_outliers.py --out PAPER_OUT --cache-dir CACHE --seed 0 \\
        --methods none mmd dann [--scaling per-domain --mmd-bandwidth mean]
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
import torch

from sklens.experiments.reproduce import resolve_config

BATCH = 32


def batch_bandwidths(
    features_src: np.ndarray, features_tgt: np.ndarray, bandwidth: str, n: int = 200
) -> np.ndarray:
    """The base bandwidth of ``n`` random joint batches, as ``sklens.nn.losses`` computes it."""
    from sklens.nn.losses import _base_bandwidth

    rng = np.random.default_rng(0)
    bases = []
    for _ in range(n):
        joint = np.concatenate(
            [
                features_src[rng.choice(len(features_src), BATCH)],
                features_tgt[rng.choice(len(features_tgt), BATCH)],
            ]
        )
        sq_dist = torch.cdist(torch.from_numpy(joint), torch.from_numpy(joint)).pow(2)
        bases.append(float(_base_bandwidth(sq_dist, bandwidth)))
    return np.array(bases)


def describe(model, X: np.ndarray, y: np.ndarray) -> dict:
    predictions = model.predict(X)
    features = model.transform_features(X)
    norm = np.linalg.norm(features, axis=1)
    flux = X.reshape(len(X), -1).sum(axis=1)
    error = np.abs(predictions - y)
    bad = error > 1.0
    flux_rank = np.searchsorted(np.sort(flux), flux[bad]) / len(flux)
    return {
        "n_bad": int(bad.sum()),
        "max_error": float(error.max()),
        "norm_median": float(np.median(norm)),
        "norm_p99": float(np.percentile(norm, 99)),
        "norm_bad_median": float(np.median(norm[bad])) if bad.any() else float("nan"),
        "flux_percentile_of_bad": float(np.mean(flux_rank)) if bad.any() else float("nan"),
        "corr_norm_flux": float(np.corrcoef(norm, flux)[0, 1]),
        "features": features,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory of a finished reproduction")
    parser.add_argument("--cache-dir", required=True, help="its simulation cache")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--scaling", default="per-domain")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=["none", "mmd", "dann"])
    parser.add_argument("--mmd-bandwidth", default="mean", help="the bandwidth to report for the kernel")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = resolve_config(args.preset, scaling=args.scaling)
    data = config.load_data(cache_dir=args.cache_dir, progress=False)
    print(
        '| method | test set | >1" off | max error | feature norm median / p99 | norm of those off '
        "| their flux percentile | corr(norm, flux) | bandwidth median / p95 |"
    )
    print("|---" * 9 + "|")
    for method in args.methods:
        with (Path(args.out) / "runs" / f"{method}-seed{args.seed}" / "model.pkl").open("rb") as stream:
            model = pickle.load(stream).set_params(device="cpu")
        rows = {domain: describe(model, X, y) for domain, (X, y) in data.test.items()}
        bases = batch_bandwidths(rows["source"]["features"], rows["target"]["features"], args.mmd_bandwidth)
        for domain, r in rows.items():
            band = f"{np.median(bases):.0f} / {np.percentile(bases, 95):.0f}" if domain == "source" else ""
            print(
                f"| {method} | {domain} | {r['n_bad']} | {r['max_error']:.2f} | {r['norm_median']:.1f} / "
                f"{r['norm_p99']:.1f} | {r['norm_bad_median']:.1f} | {r['flux_percentile_of_bad']:.3f} | "
                f"{r['corr_norm_flux']:.2f} | {band} |"
            )


if __name__ == "__main__":
    main()
