"""Ensembles trained in one pass against K separate fits, in one process.

For each method, K members are trained three ways on the same data (the Table 2 CNN on 40 x 40
images, Adam, batch 32): as one ``n_members=K`` fit; as K sequential fits with every thread; and as
today's reproduction scheme, K fits shared by two worker processes of one thread each. Runs are
interleaved and the fastest of ``--repeats`` is kept for each. The achieved training rate is also
given as a fraction of this CPU's float32 matrix-multiply rate, measured in the same run.

Usage::

    PYTHONPATH=. python benchmarks/bench_ensemble.py [--n 1024] [--epochs 1] [--members 10] [--repeats 2]
        [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from joblib import Parallel, delayed

from sklens.regression import METHODS


def training_flop_per_image(method: str, image_size: int = 40) -> float:
    """Multiply-adds x 2 of the Table 2 CNN, forward and backward (x 3); the adaptive methods also
    pass one target image per source image through the network and back."""
    size, channels, flop = image_size, [1, 8, 16, 32], 0.0
    for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
        flop += 2 * c_in * c_out * 9 * size * size
        size //= 2
    flop += 2 * (channels[-1] * size * size) * 128 + 2 * 128
    return 3 * flop * (1 if method == "none" else 2)


def matmul_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def fit(method: str, data, epochs: int, members: int, seed: int, threads: int, device: str = "cpu") -> None:
    torch.set_num_threads(threads)
    X, y, X_tgt = data
    model = METHODS[method](max_epochs=epochs, lr=1e-4, random_state=seed, n_members=members, device=device)
    model.fit(X, y, X_tgt=X_tgt)
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def one_pass(method, data, epochs, k, threads, device) -> float:
    start = time.perf_counter()
    fit(method, data, epochs, k, 0, threads, device)
    return time.perf_counter() - start


def sequential(method, data, epochs, k, threads, device) -> float:
    start = time.perf_counter()
    for seed in range(k):
        fit(method, data, epochs, 1, seed, threads, device)
    return time.perf_counter() - start


def two_processes(method, data, epochs, k, pool: Parallel) -> float:
    start = time.perf_counter()
    pool(delayed(fit)(method, data, epochs, 1, seed, 1) for seed in range(k))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--methods", default="none,dann,mmd")
    parser.add_argument(
        "--device", default="cpu", help="cpu or cuda (the two-process scheme stays on the CPU)"
    )
    args = parser.parse_args(argv)
    threads = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    data = (
        rng.normal(size=(args.n, 1, 40, 40)).astype(np.float32),
        rng.uniform(0.5, 3.0, args.n).astype(np.float32),
        rng.normal(size=(args.n, 1, 40, 40)).astype(np.float32),
    )
    gflops = matmul_gflops(threads)
    images = args.n * args.epochs * args.members
    print(
        f"K={args.members} members, {args.n} source images of 1x40x40, {args.epochs} epoch(s), batch 32; "
        f"{threads} threads, device {args.device}; CPU float32 matmul {gflops:.0f} GFLOP/s"
    )
    print(
        f"{'method':6} {'one pass img/s':>15} {'sequential':>11} {'2 procs':>8} {'vs seq':>7} "
        f"{'vs 2 procs':>10} {'GFLOP/s':>8} {'of matmul':>9}"
    )
    with Parallel(n_jobs=2, backend="loky") as pool:
        pool(delayed(fit)("none", data, 1, 1, 0, 1) for _ in range(2))  # start the workers
        for method in args.methods.split(","):
            times = {"one": [], "seq": [], "two": []}
            for _ in range(args.repeats):
                times["one"].append(one_pass(method, data, args.epochs, args.members, threads, args.device))
                times["seq"].append(sequential(method, data, args.epochs, args.members, threads, args.device))
                times["two"].append(two_processes(method, data, args.epochs, args.members, pool))
            best = {key: min(value) for key, value in times.items()}
            rate = images / best["one"]
            achieved = rate * training_flop_per_image(method) / 1e9
            print(
                f"{method:6} {rate:15.0f} {images / best['seq']:11.0f} {images / best['two']:8.0f} "
                f"{best['seq'] / best['one']:6.2f}x {best['two'] / best['one']:9.2f}x "
                f"{achieved:8.1f} {achieved / gflops:9.1%}",
                flush=True,
            )


if __name__ == "__main__":
    main()
