"""Simulation speed and memory: sklens.simulation against stock deeplenstronomy, in the same run.

Measures, on the 40 x 40 one-band ``paper-source`` preset:

* stock ``deeplenstronomy.make_dataset`` in this process (no sklens patches), images/s;
* ``simulate_lenses(n_jobs=1)`` images/s (deeplenstronomy already imported);
  both also per CPU-second of this process, which a shared machine disturbs less than wall time;
* ``simulate_lenses(n_jobs=2)`` images/s (workers already started) and its ratio to one process;
  plus, from CPU times (psutil), the speed-up the same run would have on two idle cores:
  one-process CPU time / (parent CPU time + CPU time of the busiest worker);
* the time for ``--n-domain`` images of ``paper-source`` and of ``paper-target`` with 2 processes,
  extrapolated linearly to 50,000 per domain when ``--n-domain`` is smaller;
* the peak resident memory of this process and of the largest worker;
* with ``--memory-n``, one ``paper-source`` run of that size with 2 processes, its time and the
  peaks (sampled every 0.5 s) of the memory of this process and its workers summed, as RSS (counts
  shared libraries once per process, an overestimate) and as PSS (shares them out: what the machine
  actually holds).

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_simulation.py --n-stock 200 --n 2000 --n-domain 10000

The machine is shared: report the load average printed at the start next to the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

import psutil
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
        start, cpu_start = time.perf_counter(), time.process_time()
        dataset = _adapter.stock_make_dataset(path)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    assert len(dataset.CONFIGURATION_1_images) == n
    return n / elapsed, n / cpu


def timed(preset: str, n: int, n_jobs: int, seed: int = 0) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``simulate_lenses(preset, n)``, no cache."""
    start, cpu_start = time.perf_counter(), time.process_time()
    data = simulate_lenses(preset, n, random_state=seed, n_jobs=n_jobs, progress=False)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    assert data.images.shape[0] == n
    return elapsed, cpu


def worker_cpu_seconds() -> dict[int, float]:
    """CPU seconds used so far by each child process (the joblib workers) of this process."""
    times = {}
    for child in psutil.Process().children(recursive=True):
        try:
            cpu = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        times[child.pid] = cpu.user + cpu.system
    return times


def idle_two_core_speedup(n: int, one_process_cpu: float) -> float:
    """Speed-up of n_jobs=2 over one process on two idle cores, estimated from CPU times."""
    before = worker_cpu_seconds()
    parent_cpu = timed("paper-source", n, n_jobs=2, seed=2)[1]
    after = worker_cpu_seconds()
    busiest = max(after[pid] - before.get(pid, 0.0) for pid in after)
    return one_process_cpu / (parent_cpu + busiest)


def tree_memory_mib() -> tuple[float, float]:
    """(RSS, PSS) of this process plus all its children, in MiB."""
    processes = [psutil.Process(), *psutil.Process().children(recursive=True)]
    rss = pss = 0
    for process in processes:
        try:
            info = process.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        rss, pss = rss + info.rss, pss + info.pss
    return rss / 2**20, pss / 2**20


def timed_with_peak_memory(n: int) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MiB, peak PSS MiB) of the process tree for one paper-source run."""
    samples, done = [tree_memory_mib()], threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            samples.append(tree_memory_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        seconds = timed("paper-source", n, n_jobs=2, seed=3)[0]
    finally:
        done.set()
        sampler.join()
    return seconds, max(rss for rss, _ in samples), max(pss for _, pss in samples)


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
    parser.add_argument("--n-domain", type=int, default=10000, help="images per domain, 2 jobs (0: skip)")
    parser.add_argument("--memory-n", type=int, default=0, help="images for the memory run (0: skip)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}, cores: {os.cpu_count()}")
    assert preset_path("paper-source").is_file()

    _adapter.ensure_available()  # import time (a few seconds) is not part of the rates
    # Start both workers (two chunks) so that their import is not timed either.
    simulate_lenses("paper-source", 16, random_state=1, n_jobs=2, chunk_size=8, progress=False)

    stock, stock_cpu = stock_rate(args.n_stock)
    one_seconds, one_cpu_seconds = timed("paper-source", args.n, n_jobs=1)
    one, one_cpu = args.n / one_seconds, args.n / one_cpu_seconds
    two = args.n / timed("paper-source", args.n, n_jobs=2, seed=1)[0]
    idle_speedup = idle_two_core_speedup(args.n, one_cpu_seconds)
    print(
        f"stock deeplenstronomy, 1 process : {stock:8.1f} images/s, "
        f"{stock_cpu:6.1f} per CPU-s (n={args.n_stock})"
    )
    print(
        f"sklens, 1 process                : {one:8.1f} images/s, {one_cpu:6.1f} per CPU-s "
        f"(n={args.n}); {one / stock:.1f}x stock (wall), {one_cpu / stock_cpu:.1f}x (CPU)"
    )
    print(
        f"sklens, 2 processes              : {two:8.1f} images/s (n={args.n}), "
        f"{two / one:.2f}x one process (wall); {idle_speedup:.2f}x on two idle cores "
        "(estimate from CPU times)"
    )

    scale = 50_000 / max(args.n_domain, 1)
    for preset in ("paper-source", "paper-target") if args.n_domain else ():
        seconds = timed(preset, args.n_domain, n_jobs=2, seed=10)[0]
        print(
            f"{preset}: {args.n_domain} images in {seconds:.1f} s with 2 processes"
            + (f" -> 50,000 in ~{seconds * scale:.0f} s (linear extrapolation)" if scale != 1 else "")
        )
    if args.memory_n:
        seconds, rss, pss = timed_with_peak_memory(args.memory_n)
        print(
            f"paper-source: {args.memory_n} images in {seconds:.1f} s with 2 processes; "
            f"peak memory of parent + workers: RSS sum {rss:.0f} MiB, PSS sum {pss:.0f} MiB"
        )
    own, child = peak_memory_mib()
    print(f"peak RSS: main process {own:.0f} MiB, largest worker {child:.0f} MiB")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
