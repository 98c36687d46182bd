"""Training throughput of this sklens against another source tree of sklens, run by run.

Two versions of one package cannot share a process, so each fit runs in a fresh subprocess that
imports one tree: the reference (``--reference``, e.g. a ``git worktree`` of an older commit) or this
one. The two alternate, run after run, for ``--repeats`` rounds, and the fastest fit of each is kept,
so that background load affects both alike. The fit is `benchmarks/bench_regressors.py`'s: the Table 2
CNN on 1 x 40 x 40 images, batch 32, with target batches for DANN and MMD, one torch thread.

Usage::

    git worktree add /tmp/sklens-before <commit>
    python benchmarks/bench_versions.py --reference /tmp/sklens-before [--n 2048] [--epochs 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

#: What one subprocess runs: one timed fit, its seconds printed as JSON.
FIT = """
import json, sys, time
import numpy as np
import torch
torch.set_num_threads(1)
from sklens import CNNRegressor, DANNRegressor, MMDRegressor
method, n, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
X = rng.normal(size=(n, 1, 40, 40)).astype(np.float32)
X_tgt = (1.5 * rng.normal(size=(n, 1, 40, 40))).astype(np.float32)
y = X[:, 0, 15:25, 15:25].mean(axis=(1, 2))
cls = {"none": CNNRegressor, "dann": DANNRegressor, "mmd": MMDRegressor}[method]
model = cls(max_epochs=epochs, lr=1e-3, random_state=0, device="cpu", head="point", domain_batchnorm=False,
            module__feature_norm=False)
start = time.perf_counter()
model.fit(X, y, X_tgt=X_tgt)
print(json.dumps(time.perf_counter() - start))
"""


def timed_fit(tree: Path, method: str, n: int, epochs: int) -> float:
    """Seconds of one fit in a fresh process that imports sklens from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", FIT, method, str(n), str(epochs)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=tree,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="the other sklens source tree")
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", default="none,dann,mmd")
    args = parser.parse_args(argv)
    if not (args.reference / "sklens" / "__init__.py").is_file():
        parser.error(f"--reference {args.reference} holds no sklens package (sklens/__init__.py)")
    print("| estimator | reference, images/s | this tree, images/s | time ratio this / reference |")
    print("|---|---|---|---|")
    for method in args.methods.split(","):
        best = {"reference": float("inf"), "this": float("inf")}
        for _ in range(args.repeats):
            for side, tree in (("reference", args.reference), ("this", HERE)):
                best[side] = min(best[side], timed_fit(tree, method, args.n, args.epochs))
        rate = {side: args.n * args.epochs / seconds for side, seconds in best.items()}
        ratio = best["this"] / best["reference"]
        print(f"| {method} | {rate['reference']:,.0f} | {rate['this']:,.0f} | {ratio:.3f} |", flush=True)


if __name__ == "__main__":
    main()
