"""Training speed of the Table 2 CNN in channels-last memory against PyTorch's default layout.

``PaperCNN(channels_last=True)`` (the default) keeps the convolutions' weights in channels-last memory,
so that the convolutions, BatchNorm and max pooling compute in that layout. Both layouts are timed in
the same process on the same random 1 x 40 x 40 images, interleaved, the fastest of ``--repeats``
kept for each:

- the network alone: a plain loop of Adam steps (MSE, batch 32);
- each regressor at its defaults (no adaptation, DANN, MMD), ``module__channels_last`` True or False.

The ratio default layout / channels-last is the speed-up. Usage::

    PYTHONPATH=. python benchmarks/bench_memory_layout.py [--n 2048] [--epochs 2] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from sklens.nn.networks import PaperCNN
from sklens.regression import METHODS

COMPARED = ("none", "dann", "mmd")


def network_loop(channels_last: bool, X: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Seconds for ``steps`` Adam steps of the network alone, on batches of 32 drawn from X."""
    torch.manual_seed(0)
    net = PaperCNN(feature_norm=True, channels_last=channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-4)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(steps):
        rows = torch.randint(0, len(X), (32,), generator=generator)
        loss = F.mse_loss(net(X[rows]), y[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def regressor_fit(method: str, channels_last: bool, X, y, X_tgt, epochs: int) -> float:
    """Seconds for one fit of ``method`` at its defaults, in the given layout."""
    model = METHODS[method](
        max_epochs=epochs, random_state=0, device="cpu", module__channels_last=channels_last
    )
    start = time.perf_counter()
    model.fit(X, y, X_tgt=X_tgt)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, 1, 40, 40)).astype(np.float32)
    y = rng.uniform(0.5, 3.0, args.n).astype(np.float32)
    X_tgt = rng.normal(size=(args.n, 1, 40, 40)).astype(np.float32)
    steps = args.n * args.epochs // 32
    print(f"{args.n} source images of 1x40x40, {args.epochs} epochs, batch 32, {args.threads} thread(s)")
    print("| training | default layout, img/s | channels-last, img/s | speed-up |")
    print("|---|---|---|---|")
    cases = [
        (
            "network alone (Adam steps)",
            lambda cl: network_loop(cl, torch.as_tensor(X), torch.as_tensor(y[:, None]), steps),
        )
    ]
    cases += [
        (f"{METHODS[m].__name__}()", lambda cl, m=m: regressor_fit(m, cl, X, y, X_tgt, args.epochs))
        for m in COMPARED
    ]
    for name, run in cases:
        run(True)  # warm-up: oneDNN's kernels for both layouts
        run(False)
        times = {True: [], False: []}
        for _ in range(args.repeats):
            for channels_last in (False, True):
                times[channels_last].append(run(channels_last))
        images = args.n * args.epochs
        default, last = images / min(times[False]), images / min(times[True])
        print(f"| {name} | {default:,.0f} | {last:,.0f} | {last / default:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
