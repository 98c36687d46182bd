"""Peak memory of an MMDRegressor fit against a plain PyTorch loop doing the same work.

Each side runs in a fresh process of its own (peak RSS is per process): the same N source and N
target 1x40x40 float32 images made in that process, one epoch of the Table 2 CNN with MMD, Adam,
batch 32. The plain loop imports numpy and torch only; sklens also imports scikit-learn, scipy and
skorch, a fixed cost reported apart (a process that only imports them).

Usage::

    PYTHONPATH=. python benchmarks/bench_memory.py [--n 35000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 1, 40, 40)).astype(np.float32)
    X_tgt = rng.normal(size=(n, 1, 40, 40)).astype(np.float32)
    return X, X.mean(axis=(1, 2, 3)), X_tgt


def plain(n: int) -> None:
    import torch
    import torch.nn.functional as F

    from sklens.nn.losses import MMDLoss
    from sklens.nn.networks import PaperCNN

    X, y, X_tgt = make_data(n)
    torch.manual_seed(0)
    net = PaperCNN(in_channels=1, image_size=(40, 40))
    optimizer = torch.optim.Adam(net.parameters(), lr=6e-5)
    loss_fn = MMDLoss()
    X_t, y_t, X_tgt_t = torch.from_numpy(X), torch.from_numpy(y[:, None]), torch.from_numpy(X_tgt)
    order, target_order = torch.randperm(n), torch.randperm(n)
    for start in range(0, n, 32):
        rows, target_rows = order[start : start + 32], target_order[start : start + 32]
        optimizer.zero_grad()
        features = net.features(torch.cat([X_t[rows], X_tgt_t[target_rows[: len(rows)]]]))
        k = len(rows)
        loss = F.mse_loss(net.head(features[:k]), y_t[rows]) + 1.4 * loss_fn(features[:k], features[k:])
        loss.backward()
        optimizer.step()


def sklens_fit(n: int) -> None:
    from sklens import MMDRegressor

    X, y, X_tgt = make_data(n)
    MMDRegressor(max_epochs=1, random_state=0, device="cpu").fit(X, y, X_tgt=X_tgt)


def imports_only(n: int) -> None:
    import sklearn.metrics  # noqa: F401
    import skorch  # noqa: F401
    import torch  # noqa: F401

    import sklens.base  # noqa: F401


SIDES = {"plain": plain, "sklens": sklens_fit, "imports": imports_only, "baseline-imports": None}


def run_side(side: str, n: int) -> float:
    code = (
        "import sys, json; sys.argv = ['x']; import benchmarks.bench_memory as b; "
        f"b.SIDES[{side!r}]({n}) if b.SIDES[{side!r}] else __import__('torch'); "
        "print(json.dumps(b.peak_rss_mb()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=35_000)
    args = parser.parse_args(argv)
    peaks = {side: run_side(side, args.n) for side in SIDES}
    data_mb = 2 * args.n * 1600 * 4 / 2**20
    print(f"N = {args.n} source + {args.n} target images of 1x40x40 ({data_mb:.0f} MB of inputs)")
    for side, mb in peaks.items():
        print(f"{side:17s} peak RSS {mb:8.0f} MB")
    extra_imports = peaks["imports"] - peaks["baseline-imports"]
    print(
        f"sklens / plain: {peaks['sklens'] / peaks['plain']:.2f}x; imports of scikit-learn, scipy, skorch: "
        f"+{extra_imports:.0f} MB; without them: {(peaks['sklens'] - extra_imports) / peaks['plain']:.2f}x"
    )


if __name__ == "__main__":
    main()
