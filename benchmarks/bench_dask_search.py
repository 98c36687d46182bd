"""Wall time of one GridSearchCV over a DANNRegressor on a Dask LocalCluster: 2 workers against 1.

One LocalCluster on loopback with 2 workers, one task thread and one torch thread each, warmed up
(sklens imported and one fit of the benchmark's shapes done in every worker) before anything is
timed. "1 worker" is the same search restricted to the first worker (``workers=[address]`` passed
through joblib to Dask): a cluster of a single task thread would not do, because joblib then runs the
search in the calling process instead. Runs alternate (1 worker, 2 workers, local) ``--repeats``
times so that changes in the machine's load hit both; the best time of each is reported. The search
uses ``refit=False`` so that only the parallel part is timed, and every run must give bit-identical
``cv_results_`` scores. "local" is the search in this process, serially, with one torch thread. The
CPU time the workers (or, for "local", this process) used during each run, divided by its wall time,
says how many cores the run actually got on a shared machine. Dask's nanny starts workers with
``MALLOC_TRIM_THRESHOLD_=65536``; setting it turns off glibc's adaptive mmap threshold, so every
buffer over 128 KiB (most activations here) is mapped from the OS and unmapped again at each step.
``--no-malloc-trim`` starts the workers without it.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_dask_search.py
"""

from __future__ import annotations

import argparse
import os
import time

import dask
import joblib
import numpy as np
from distributed import Client, LocalCluster, get_task_stream
from sklearn.model_selection import GridSearchCV, KFold

from sklens import DANNRegressor, TargetData
from sklens.datasets import make_toy_lenses
from sklens.parallel import TorchThreads, limit_torch_threads

LEARNING_RATES = [3e-4, 1e-3, 3e-3, 1e-2]
LAMBDAS = [0.1, 0.3, 1.0, 3.0]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=256, help="source images (as many target ones)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--n-candidates", type=int, default=8, choices=range(2, 17), metavar="2..16")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--no-malloc-trim",
        action="store_true",
        help="start the workers without the nanny's MALLOC_TRIM_THRESHOLD_=65536",
    )
    return parser.parse_args()


def make_data(n: int, image_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    source = make_toy_lenses(n, image_size=image_size, random_state=0)
    target = make_toy_lenses(n, domain="target", image_size=image_size, random_state=1)
    return source.images, source.target, target.images


def make_search(args: argparse.Namespace) -> GridSearchCV:
    grid = [{"lr": [lr], "lambda_da": [lam]} for lr in LEARNING_RATES for lam in LAMBDAS]
    estimator = DANNRegressor(max_epochs=args.max_epochs, batch_size=32, random_state=0)
    cv = KFold(args.folds, shuffle=True, random_state=0)
    return GridSearchCV(estimator, grid[: args.n_candidates], cv=cv, refit=False)


def warm_up(args: argparse.Namespace, data) -> None:
    X, y, X_tgt = data
    n = len(X) // args.folds
    DANNRegressor(max_epochs=1, batch_size=32, random_state=0).fit(X[:n], y[:n], X_tgt=X_tgt)


def start_cluster(args: argparse.Namespace, data) -> tuple[LocalCluster, Client]:
    if args.no_malloc_trim:
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = Client(cluster)
    client.register_plugin(TorchThreads(1))
    for address in client.scheduler_info()["workers"]:
        client.submit(warm_up, args, data, workers=[address], pure=False).result()
    return cluster, client


def workers_cpu_seconds(client: Client) -> float:
    return sum(client.run(time.process_time).values())


def time_on_dask(
    client: Client, workers: list[str], args: argparse.Namespace, data
) -> tuple[float, float, dict]:
    """Return the wall time, the CPU time of all workers and the cv_results_ of one search."""
    X, y, X_tgt = data
    cpu = workers_cpu_seconds(client)
    start = time.perf_counter()
    with get_task_stream(client) as stream, joblib.parallel_backend("dask", workers=workers):
        search = make_search(args).fit(X, y, X_tgt=TargetData(X_tgt))
    seconds = time.perf_counter() - start
    used = {task["worker"] for task in stream.data}
    if used != set(workers):
        raise RuntimeError(f"the search ran on {sorted(used)}, not on {workers}")
    return seconds, workers_cpu_seconds(client) - cpu, search.cv_results_


def time_locally(args: argparse.Namespace, data) -> tuple[float, float, dict]:
    X, y, X_tgt = data
    cpu, start = time.process_time(), time.perf_counter()
    with limit_torch_threads(1):
        search = make_search(args).fit(X, y, X_tgt=TargetData(X_tgt))
    return time.perf_counter() - start, time.process_time() - cpu, search.cv_results_


def main() -> None:
    args = parse_args()
    data = make_data(args.n_images, args.image_size)
    n_fits = args.n_candidates * args.folds
    print(
        f"GridSearchCV: DANNRegressor, {args.n_candidates} candidates x {args.folds} folds = {n_fits} fits, "
        f"{args.n_images} + {args.n_images} images of {args.image_size}x{args.image_size}, "
        f"{args.max_epochs} epochs; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
        f"workers {'without' if args.no_malloc_trim else 'with'} MALLOC_TRIM_THRESHOLD_"
    )
    with limit_torch_threads(1):
        warm_up(args, data)
    start = time.perf_counter()
    cluster, client = start_cluster(args, data)
    print(f"cluster start-up and warm-up: {time.perf_counter() - start:.1f} s")
    workers = list(client.scheduler_info()["workers"])
    runs = {
        "1 worker": lambda: time_on_dask(client, workers[:1], args, data),
        "2 workers": lambda: time_on_dask(client, workers, args, data),
        "local": lambda: time_locally(args, data),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    reference = None
    try:
        for repeat in range(args.repeats):
            for name, run in runs.items():
                seconds, cpu, cv_results = run()
                times[name].append(seconds)
                print(
                    f"repeat {repeat + 1}, {name}: {seconds:.1f} s, {cpu:.1f} CPU-s "
                    f"= {cpu / seconds:.2f} cores "
                    f"(load average {os.getloadavg()[0]:.1f})"
                )
                reference = reference or cv_results
                for key in ("split0_test_score", "mean_test_score"):
                    np.testing.assert_array_equal(cv_results[key], reference[key], err_msg=f"{name}: {key}")
    finally:
        client.close()
        cluster.close()
    print("cv_results_ scores bit-identical in every run")
    best = {name: min(values) for name, values in times.items()}
    for name, seconds in best.items():
        print(f"best {name}: {seconds:.1f} s ({seconds / n_fits:.2f} s per fit)")
    print(f"speed-up, 2 workers against 1: {best['1 worker'] / best['2 workers']:.2f}x")


if __name__ == "__main__":
    main()
