"""Coverage of a default-constructed regressor's intervals on held-out source images, by training size.

For each data set and training size, a default-constructed regressor (``DANNRegressor()`` unless
``--method`` says otherwise; only the seed and, with ``--epochs``, the epochs are set) is fitted with its
fit-time calibration of the spread (the default, ``calibration_fraction=0.1``) and, as the reference in
the same run, with it off (``calibration_fraction=0``). Both are scored on the same held-out source
images: the share inside the central 68% and 95% intervals, nominal 0.68 and 0.95, and R^2; the target's
coverage is reported beside it. ``--calibration-fraction`` and ``--members`` (``n_members``) try other
settings; ``--calibrated-only`` skips the reference. Data sets: ``toy``
(`sklens.datasets.make_toy_lenses`, 32 x 32; 4,000 fresh source images to test on) and ``paper`` (the
paper's scaled domains at 50,000 lenses per domain, training images from its training split; the first
4,000 images of each test split).

    PYTHONPATH=. python benchmarks/bench_coverage.py --data toy paper --sizes 500 2000 8000 \\
        --cache-dir CACHE --out bench-coverage
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.metrics import r2_score
from tqdm.auto import tqdm

from sklens._atomic import atomic_write
from sklens.metrics import interval_coverage
from sklens.regression import METHODS

LEVELS = (0.68, 0.95)
N_TEST = 4000


def load(data: str, cache_dir: Path | None, n_max: int) -> dict:
    """Training pools (``n_max`` source images) and test sets of a data set, per domain."""
    if data == "toy":
        from sklens.datasets import make_toy_lenses

        pool = {
            domain: make_toy_lenses(n, domain=domain, random_state=seed)
            for domain, seed, n in (("source", 0, n_max), ("target", 1, max(n_max, 500)))
        }
        test = {
            domain: make_toy_lenses(N_TEST, domain=domain, random_state=seed)
            for domain, seed in (("source", 2), ("target", 3))
        }
        return {
            "train": {d: (b.images, b.target) for d, b in pool.items()},
            "test": {d: (b.images, b.target) for d, b in test.items()},
        }
    from sklens.experiments.data import load_scaled_domains

    domains = load_scaled_domains(50_000, data_seed=10, cache_dir=cache_dir)
    return {
        "train": domains.train,
        "test": {d: (X[:N_TEST], y[:N_TEST]) for d, (X, y) in domains.test.items()},
    }


def run_one(
    data, name: str, size: int, calibrated: bool, method: str, seed: int, epochs, options: dict, out: Path
) -> dict:
    import torch

    fraction, members = options["calibration_fraction"], options["members"]
    variant = f"calibrated{fraction:g}" if calibrated else "raw"
    path = out / f"{name}-{method}-n{size}-{variant}-m{members}-seed{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    torch.set_num_threads(1)
    X, y = (part[:size] for part in data["train"]["source"])
    X_tgt = data["train"]["target"][0][: max(size, 500)]
    params = {"random_state": seed, "calibration_fraction": fraction if calibrated else 0.0}
    if members > 1:
        params["n_members"] = members
    if epochs:
        params["max_epochs"] = epochs
    model = METHODS[method](**params)
    start = time.perf_counter()
    model.fit(X, y, X_tgt=X_tgt)
    result = {
        "data": name,
        "method": method,
        "size": size,
        "calibrated": calibrated,
        "calibration_fraction": fraction if calibrated else 0.0,
        "members": members,
        "seed": seed,
        "train_seconds": time.perf_counter() - start,
        "spread_scale": model.spread_scale_.tolist(),
    }
    for domain, (X_test, y_test) in data["test"].items():
        model.set_params(predict_domain=domain)
        mean, std = model.predict(X_test, return_std=True)
        coverage = np.ravel(interval_coverage(y_test, y_mean=mean, y_std=std, levels=LEVELS))
        result[domain] = {"r2": float(r2_score(y_test, mean)), "coverage": coverage.tolist()}
    with atomic_write(path) as temporary:
        temporary.write_text(json.dumps(result, indent=1))
    return result


def to_markdown(results: list[dict]) -> str:
    lines = [
        "| data | method | members | training images | seed | held out | source 68% | source 95% "
        "| source R² | target 68% | target 95% | target R² | factor | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    key = lambda r: (r["data"], r["method"], r["size"], r["seed"], not r["calibrated"])  # noqa: E731
    for r in sorted(results, key=key):
        s, t = r["source"], r["target"]
        held_out = f"{r['calibration_fraction']:g}" if r["calibration_fraction"] else "off"
        lines.append(
            f"| {r['data']} | {r['method']} | {r['members']} | {r['size']:,} | {r['seed']} | "
            f"{held_out} | {s['coverage'][0]:.3f} | {s['coverage'][1]:.3f} | "
            f"{s['r2']:.3f} | {t['coverage'][0]:.3f} | {t['coverage'][1]:.3f} | {t['r2']:.3f} | "
            f"{r['spread_scale'][0]:.2f} | {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", choices=("toy", "paper"), default=["toy", "paper"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 8000])
    parser.add_argument("--method", choices=list(METHODS), default="dann")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the estimator's (30)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench-coverage"))
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--calibration-fraction", type=float, default=0.1, help="of the calibrated fits (default: 0.1)"
    )
    parser.add_argument("--members", type=int, default=1, help="n_members of every fit (default: 1)")
    parser.add_argument("--calibrated-only", action="store_true", help="skip the uncalibrated reference")
    args = parser.parse_args(argv)
    if max(args.sizes) > 35_000 or min(args.sizes) < 1:
        parser.error(f"--sizes must lie in [1, 35000] (the paper's training split); got {args.sizes}")
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.data:
        data = load(name, args.cache_dir, max(args.sizes))
        todo = [
            (n, calibrated, seed)
            for n in args.sizes
            for seed in args.seeds
            for calibrated in ((True,) if args.calibrated_only else (True, False))
        ]
        options = {"calibration_fraction": args.calibration_fraction, "members": args.members}
        runs = Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(
            delayed(run_one)(data, name, size, calibrated, args.method, seed, args.epochs, options, args.out)
            for size, calibrated, seed in todo
        )
        results += list(tqdm(runs, total=len(todo), desc=f"{name} runs"))
    table = to_markdown(results)
    with atomic_write(args.out / "coverage.md") as temporary:
        temporary.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
