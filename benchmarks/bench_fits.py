"""Files per second reading many small FITS cutouts: read_fits against a plain astropy loop.

Writes ``--n-files`` cutouts of ``--size`` x ``--size`` float32 pixels to a temporary directory,
then times, in the same run and on the same (page-cached) files:

- a plain loop: ``np.stack([fits.getdata(path) for path in paths])``;
- ``read_fits(paths)`` serially, and with ``n_jobs=2`` on processes and on threads.

The process backend's first call starts the worker pool (and imports sklens there); that cold
start is timed separately from a second, warm call. Run::

    PYTHONPATH=. python benchmarks/bench_fits.py --n-files 5000 --size 64
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from sklens.io import read_fits


def write_cutouts(folder: Path, n_files: int, size: int, suffix: str) -> list[str]:
    """Write ``n_files`` random float32 cutouts; return their paths in order."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n_files):
        path = folder / f"cutout{i:06d}{suffix}"
        data = rng.normal(size=(size, size)).astype(np.float32)
        if suffix.endswith(".fz"):
            hdu = fits.CompImageHDU(data, compression_type="RICE_1")
            fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
        else:
            fits.PrimaryHDU(data).writeto(path)
        paths.append(str(path))
    return paths


def astropy_loop(paths: list[str]) -> np.ndarray:
    """The baseline: what a user writes by hand."""
    return np.stack([fits.getdata(path) for path in paths])


def timed(label: str, function, n_files: int) -> tuple[str, float, np.ndarray]:
    start = time.perf_counter()
    images = function()
    seconds = time.perf_counter() - start
    print(f"{label:<42} {seconds:8.2f} s {n_files / seconds:10.0f} files/s", flush=True)
    return label, seconds, images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-files", type=int, default=5000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--suffix", default=".fits", help="'.fits' or '.fits.fz' (RICE_1)")
    args = parser.parse_args()

    print(
        f"{args.n_files} files of {args.size}x{args.size} float32 ({args.suffix}); "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}; load {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths = write_cutouts(Path(tmp), args.n_files, args.size, args.suffix)
        print(f"(writing took {time.perf_counter() - start:.1f} s)")
        n = len(paths)
        runs = [
            timed("astropy loop (fits.getdata)", lambda: astropy_loop(paths), n),
            timed("read_fits n_jobs=1", lambda: read_fits(paths, progress=False), n),
            timed(
                "read_fits n_jobs=2 processes (cold pool)",
                lambda: read_fits(paths, n_jobs=2, backend="processes", progress=False),
                n,
            ),
            timed(
                "read_fits n_jobs=2 processes (warm pool)",
                lambda: read_fits(paths, n_jobs=2, backend="processes", progress=False),
                n,
            ),
            timed(
                "read_fits n_jobs=2 threads",
                lambda: read_fits(paths, n_jobs=2, backend="threads", progress=False),
                n,
            ),
        ]
    baseline_label, baseline_seconds, baseline_images = runs[0]
    # The cold pool's extra time over the warm one is a fixed start-up cost: not scaled with n.
    start_up = max(0.0, runs[2][1] - runs[3][1])
    print(
        f"\nratio = files/s relative to the {baseline_label}; 50,000 files extrapolated "
        f"linearly (the cold pool: {start_up:.1f} s start-up + the warm rate)"
    )
    for label, seconds, images in runs:
        same = np.array_equal(images.reshape(baseline_images.shape), baseline_images)
        per_file = (seconds - start_up if "cold" in label else seconds) / n
        extra = start_up if "cold" in label else 0.0
        print(
            f"{label:<42} ratio {baseline_seconds / seconds:5.2f}   "
            f"50,000 files ~{extra + per_file * 50_000:6.0f} s   identical arrays: {same}"
        )


if __name__ == "__main__":
    main()
