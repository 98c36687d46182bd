"""Simulation speed and memory: sklens.simulation against stock deeplenstronomy, in the same run.

Measures, on the 40 x 40 one-band ``paper-source`` preset:

* stock ``deeplenstronomy.make_dataset`` in this process (no sklens patches), images/s;
* ``simulate_lenses(n_jobs=1)`` images/s (deeplenstronomy already imported);
* ``simulate_lenses(n_jobs=2)`` images/s (workers already started) and its ratio to one process;
* the time for ``--n-domain`` images of ``paper-source`` and of ``paper-target`` with 2 processes,
  extrapolated linearly to 50,000 per domain when ``--n-domain`` is smaller;
* the peak resident memory of this process and of the largest worker.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_simulation.py --n-stock 200 --n 2000 --n-domain 10000

The machine is shared: report the load average printed at the start next to the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import yaml

from sklens.simulation import _adapter, preset_path, simulate_lenses
from sklens.simulation._config import load_config


def stock_rate(n: int) -> float:
    """Images/s of unpatched deeplenstronomy on paper-source (SIZE n + 1: it drops the first)."""
    config = load_config("paper-source").deeplenstronomy
    with tempfile.TemporaryDirectory() as workdir:
        config["DATASET"]["PARAMETERS"].update(SIZE=n + 1, SEED=10, OUTDIR=f"{workdir}/out")
        os.mkdir(f"{workdir}/out")
        path = Path(workdir) / "stock.yaml"
        path.write_text(yaml.safe_dump(config))
        start = time.perf_counter()
        dataset = _adapter.stock_make_dataset(path)
        elapsed = time.perf_counter() - start
    assert len(dataset.CONFIGURATION_1_images) == n
    return n / elapsed


def timed(preset: str, n: int, n_jobs: int, seed: int = 0) -> float:
    """Seconds for ``simulate_lenses(preset, n)`` without a persistent cache."""
    start = time.perf_counter()
    data = simulate_lenses(preset, n, random_state=seed, n_jobs=n_jobs, progress=False)
    elapsed = time.perf_counter() - start
    assert data.images.shape[0] == n
    return elapsed


def peak_memory_mib() -> tuple[float, float]:
    """Peak RSS of this process and of the largest finished child process, in MiB."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, child


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-stock", type=int, default=200, help="images for stock deeplenstronomy")
    parser.add_argument("--n", type=int, default=2000, help="images for the per-process rates")
    parser.add_argument("--n-domain", type=int, default=10000, help="images per domain, 2 jobs")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}, cores: {os.cpu_count()}")
    assert preset_path("paper-source").is_file()

    _adapter.ensure_available()  # import time (a few seconds) is not part of the rates
    # Start both workers (two chunks) so that their import is not timed either.
    simulate_lenses("paper-source", 16, random_state=1, n_jobs=2, chunk_size=8, progress=False)

    stock = stock_rate(args.n_stock)
    one = args.n / timed("paper-source", args.n, n_jobs=1)
    two = args.n / timed("paper-source", args.n, n_jobs=2, seed=1)
    print(f"stock deeplenstronomy, 1 process : {stock:8.1f} images/s (n={args.n_stock})")
    print(f"sklens, 1 process                : {one:8.1f} images/s (n={args.n}), "
          f"{one / stock:.1f}x stock")
    print(f"sklens, 2 processes              : {two:8.1f} images/s (n={args.n}), "
          f"{two / one:.2f}x one process")

    scale = 50_000 / args.n_domain
    for preset in ("paper-source", "paper-target"):
        seconds = timed(preset, args.n_domain, n_jobs=2, seed=10)
        print(f"{preset}: {args.n_domain} images in {seconds:.1f} s with 2 processes"
              + (f" -> 50,000 in ~{seconds * scale:.0f} s (linear extrapolation)"
                 if scale != 1 else ""))
    own, child = peak_memory_mib()
    print(f"peak RSS: main process {own:.0f} MiB, largest worker {child:.0f} MiB")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
