"""Training throughput of the sklens regressors against a hand-written PyTorch loop.

Both sides do the same computation on the same data in the same process: the Table 2 CNN, Adam,
batch 32, shuffled source batches, and for DANN/MMD a target batch of the same size drawn from a
reshuffled, cycled target set, one forward pass over the concatenation. Runs are interleaved and the
fastest of ``--repeats`` is kept for each side, so background load affects both alike.

Usage::

    python benchmarks/bench_regressors.py [--n 2048] [--epochs 2] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from sklens.callbacks import reversal_coefficient
from sklens.nn.losses import DomainAdversarialLoss, MMDLoss
from sklens.nn.networks import DomainClassifier, PaperCNN
from sklens.nn.sampling import TargetSampler
from sklens.regression import METHODS

COMPARED = ("none", "dann", "mmd")  # the methods the plain loop below reimplements


def plain_loop(method: str, X: np.ndarray, y: np.ndarray, X_tgt: np.ndarray, epochs: int, lr: float) -> None:
    """The reference: a plain PyTorch training loop with the same computation as the estimator."""
    torch.manual_seed(0)
    net = PaperCNN(in_channels=1, image_size=X.shape[2:])
    params = list(net.parameters())
    adaptation = None
    if method == "mmd":
        adaptation, weight = MMDLoss(), 1.4
    elif method == "dann":
        adaptation, weight = DomainAdversarialLoss(DomainClassifier(800)), 1.0
        params += list(adaptation.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(X), torch.as_tensor(y[:, None]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True)
    sampler = TargetSampler(X_tgt, seed=0)
    total_steps, step = epochs * len(loader), 0
    net.train()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            if adaptation is None:
                loss = F.mse_loss(net(xb), yb)
            else:
                if method == "dann":
                    adaptation.reversal.coefficient = reversal_coefficient(step / total_steps)
                n = len(xb)
                features = net.features(torch.cat([xb, sampler.draw(n)]))
                task = F.mse_loss(net.head(features[:n]), yb)
                loss = task + weight * adaptation(features[:n], features[n:])
            loss.backward()
            optimizer.step()
            step += 1


def sklens_fit(method: str, X: np.ndarray, y: np.ndarray, X_tgt: np.ndarray, epochs: int, lr: float) -> None:
    METHODS[method](max_epochs=epochs, lr=lr, random_state=0, device="cpu").fit(X, y, X_tgt=X_tgt)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
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
    print(f"{args.n} source images of 1x40x40, {args.epochs} epochs, batch 32, {args.threads} thread(s)")
    print(f"{'method':8} {'plain img/s':>12} {'sklens img/s':>13} {'time ratio':>11}")
    for method in COMPARED:
        plain, ours = [], []
        for _ in range(args.repeats):
            plain.append(timed(plain_loop, method, X, y, X_tgt, args.epochs, 1e-4))
            ours.append(timed(sklens_fit, method, X, y, X_tgt, args.epochs, 1e-4))
        images = args.n * args.epochs
        print(
            f"{method:8} {images / min(plain):12.0f} {images / min(ours):13.0f} "
            f"{min(ours) / min(plain):11.3f}"
        )


if __name__ == "__main__":
    main()
