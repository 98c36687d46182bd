"""torch.compile against eager training, for one Table 2 CNN and for K members stacked into one network.

A plain PyTorch loop (MSE, Adam, batch 32 rows per member) trains the same network eagerly and
compiled (inductor) on the same random 1x40x40 images, in one process and one thread; each side is
timed over the same number of steps after its warm-up (the compile time is reported apart). The
ratio compiled / eager says whether fusing the element-wise steps helps the one-pass ensemble more
than it helps a single fit (it would then widen the ensemble's lead over separate fits).

Usage::

    PYTHONPATH=. python benchmarks/bench_compile.py [--members 10] [--steps 200] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from sklens.nn.ensemble import stack_networks
from sklens.nn.networks import PaperCNN

BATCH = 32
POOL = 4096


def make_network(members: int) -> nn.Module:
    """One PaperCNN, or ``members`` of them (seeds 0, 1, ...) stacked as the estimators stack them."""
    networks = []
    for seed in range(members):
        torch.manual_seed(seed)
        networks.append(PaperCNN())
    return networks[0] if members == 1 else stack_networks(networks, "features", row_ndim=3)


def train(network: nn.Module, members: int, steps: int, images: torch.Tensor, targets: torch.Tensor) -> float:
    """Member-images per second over ``steps`` Adam steps of ``network`` (compiled or not)."""
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(steps):
        shape = (BATCH,) if members == 1 else (BATCH, members)  # each member its own rows
        rows = torch.randint(0, POOL, shape, generator=generator)
        loss = nn.functional.mse_loss(network(images[rows]), targets[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * BATCH * members / (time.perf_counter() - start)


def measure(members: int, steps: int, images: torch.Tensor, targets: torch.Tensor) -> dict:
    eager = make_network(members)
    train(eager, members, 5, images, targets)
    eager_rate = train(eager, members, steps, images, targets)
    compiled = torch.compile(make_network(members))
    start = time.perf_counter()
    train(compiled, members, 3, images, targets)
    compile_s = time.perf_counter() - start
    compiled_rate = train(compiled, members, steps, images, targets)
    return {"eager": eager_rate, "compiled": compiled_rate, "compile_s": compile_s}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(POOL, 1, 40, 40, generator=generator)
    targets = torch.randn(POOL, 1, generator=generator)
    print("| network | eager, member-images/s | compiled, member-images/s | compiled / eager | compile s |")
    print("|---|---|---|---|---|")
    for members in (1, args.members):
        steps = args.steps if members == 1 else max(1, args.steps // 5)
        row = measure(members, steps, images, targets)
        name = "one CNN" if members == 1 else f"{members} stacked members"
        ratio = row["compiled"] / row["eager"]
        rates = f"{row['eager']:,.0f} | {row['compiled']:,.0f}"
        print(f"| {name} | {rates} | {ratio:.2f}x | {row['compile_s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
