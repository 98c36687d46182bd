"""Training throughput of the lens classifiers against a hand-written PyTorch loop.

Both sides train the same network (``sklens.nn.lensfinder.LensFinderCNN``) on the same 3-band
60 x 60 images in the same process: Adam (lr 6e-4, weight decay 1e-4), binary cross-entropy on the
logit, shuffled batches of 128, no validation split. After one warm-up run, runs are interleaved
and the fastest of ``--repeats`` is kept for each side, so background load affects both alike. The
last column gives the cost of each network relative to the plain one (sklens side), i.e. the price
of exact invariance.

Usage::

    python benchmarks/bench_lens_finders.py [--n 1024] [--epochs 1] [--repeats 2] [--threads 2]
        [--width-divisor 4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from sklens import LensClassifier, RotInvariantLensClassifier
from sklens.nn.lensfinder import LensFinderCNN

PAPER_FILTERS = (32, 64, 128)
PAPER_HIDDEN = (900, 900)
NETWORKS = {"plain": None, "input C4": "input", "group C4": "group"}


def architecture(width_divisor: int) -> dict:
    return {
        "n_filters": tuple(f // width_divisor for f in PAPER_FILTERS),
        "hidden": tuple(h // width_divisor for h in PAPER_HIDDEN),
    }


def plain_loop(invariance: str | None, X: np.ndarray, y: np.ndarray, epochs: int, widths: dict) -> None:
    """The reference: a plain PyTorch loop training the same network as the estimator."""
    torch.manual_seed(0)
    net = LensFinderCNN(X.shape[1], X.shape[2:], invariance=invariance, **widths)
    optimizer = torch.optim.Adam(net.parameters(), lr=6e-4, weight_decay=1e-4)
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(X), torch.as_tensor(y[:, None]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True)
    net.train()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            F.binary_cross_entropy_with_logits(net(xb), yb).backward()
            optimizer.step()


def sklens_fit(invariance: str | None, X: np.ndarray, y: np.ndarray, epochs: int, widths: dict) -> None:
    common = {"max_epochs": epochs, "train_split": None, "random_state": 0, "device": "cpu", **widths}
    if invariance is None:
        LensClassifier(**common).fit(X, y)
    else:
        RotInvariantLensClassifier(invariance=invariance, **common).fit(X, y)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--width-divisor", type=int, default=4, help="1 = the paper's widths")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, 3, 60, 60)).astype(np.float32)
    y = (np.arange(args.n) % 2).astype(np.float32)
    widths = architecture(args.width_divisor)
    print(
        f"{args.n} images of 3x60x60, {args.epochs} epoch(s), batch 128, {args.threads} thread(s), "
        f"filters {widths['n_filters']}, hidden {widths['hidden']}"
    )
    print(f"{'network':9} {'plain img/s':>12} {'sklens img/s':>13} {'time ratio':>11} {'cost vs plain':>14}")
    plain_loop(None, X[:128], y[:128], 1, widths)  # warm-up: the first run pays for torch's start-up
    reference = None
    for name, invariance in NETWORKS.items():
        plain, ours = [], []
        for _ in range(args.repeats):
            plain.append(timed(plain_loop, invariance, X, y, args.epochs, widths))
            ours.append(timed(sklens_fit, invariance, X, y, args.epochs, widths))
        reference = reference or min(ours)
        images = args.n * args.epochs
        print(
            f"{name:9} {images / min(plain):12.0f} {images / min(ours):13.0f} "
            f"{min(ours) / min(plain):11.3f} {min(ours) / reference:14.2f}"
        )


if __name__ == "__main__":
    main()
