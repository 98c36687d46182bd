"""Simulate straight to files: the library side of ``sklens simulate``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from sklens._atomic import atomic_write
from sklens._optional import check_extras
from sklens.simulation._api import DEFAULT_CHUNK_SIZE, _check_positive_int, simulate_lenses
from sklens.simulation._cache import prepare_directory
from sklens.simulation._config import preset_names

FORMATS = ("fits", "npz")
CACHE_SUBDIRECTORY = ".sklens-cache"


def _output_stem(config: str | os.PathLike) -> str:
    if isinstance(config, str) and config in preset_names():
        return config
    return Path(config).stem


def _output_paths(directory: Path, stem: str, file_format: str) -> list[Path]:
    if file_format == "fits":
        return [directory / f"{stem}.fits", directory / f"{stem}.yaml"]
    return [directory / f"{stem}.npz", directory / f"{stem}.csv", directory / f"{stem}.yaml"]


def _write_npz(data: Bunch, npz_path: Path, csv_path: Path) -> None:
    arrays = {"images": data.images}
    if data.target is not None:
        arrays["target"] = data.target
    with atomic_write(npz_path) as temporary:
        np.savez(temporary, **arrays)
    table = data.metadata.copy()
    if data.target is not None:
        table.insert(0, "target", data.target)
    with atomic_write(csv_path) as temporary:
        table.to_csv(temporary, index=False)


def simulate_to_files(
    config: str | os.PathLike,
    n: int,
    output_dir: str | os.PathLike,
    *,
    random_state: int | None = None,
    n_jobs: int = 1,
    file_format: str = "fits",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overwrite: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Simulate ``n`` images and write them to ``output_dir``.

    The images are those of [`simulate_lenses`][sklens.simulation.simulate_lenses]. One dataset, one set of
    files named after the preset (or the YAML file's stem): ``NAME.fits`` (images in the primary HDU, target
    and metadata in a ``CATALOG`` table; read it with ``sklens.io.read_fits_dataset``) or ``NAME.npz``
    (``images``, ``target``) plus ``NAME.csv`` (target and metadata); always ``NAME.yaml``, the configuration
    used. While it runs, finished chunks are kept in ``output_dir/.sklens-cache``: an interrupted run, started
    again with the same arguments, resumes from them; they are removed once the files are written.

    Parameters
    ----------
    config : str or path-like
        Preset name or deeplenstronomy YAML file.
    n : int
        Number of images.
    output_dir : str or path-like
        Directory for the files (created if needed).
    random_state : int or None
        Seed; None draws one. The seed used is recorded in a comment at the top of ``NAME.yaml``.
    n_jobs : int
        Worker processes.
    file_format : {'fits', 'npz'}
        Output format.
    chunk_size : int
        Images per chunk, as in [`simulate_lenses`][sklens.simulation.simulate_lenses].
    overwrite : bool
        Replace existing output files; without it they make this raise before any simulation.
    progress : bool
        Show a progress bar.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Examples
    --------
    >>> import tempfile
    >>> from sklens.simulation import simulate_to_files
    >>> paths = simulate_to_files("paper-source", 8, tempfile.mkdtemp(), random_state=0,
    ...                           file_format="npz", progress=False)
    >>> [p.suffix for p in paths]
    ['.npz', '.csv', '.yaml']
    """
    if file_format not in FORMATS:
        raise ValueError(f"file_format must be one of {FORMATS}; got {file_format!r}.")
    _check_positive_int(n, "n")
    check_extras("sim", user="sklens.simulation")
    directory = prepare_directory(output_dir)
    paths = _output_paths(directory, _output_stem(config), file_format)
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"Output file(s) already exist: {', '.join(existing)}; "
            "pass overwrite=True (--overwrite) to replace them."
        )
    data = simulate_lenses(
        config,
        n,
        random_state=random_state,
        n_jobs=n_jobs,
        cache_dir=directory / CACHE_SUBDIRECTORY,
        chunk_size=chunk_size,
        progress=progress,
    )
    if file_format == "fits":
        from sklens.io import write_fits  # astropy.table: imported only when writing FITS

        if overwrite:
            paths[0].unlink(missing_ok=True)
        write_fits(paths[0], data.images, target=data.target, metadata=data.metadata)
    else:
        _write_npz(data, paths[0], paths[1])
    header = f"# Simulated by sklens: n={n}, random_state={data.random_state}\n"
    with atomic_write(paths[-1]) as temporary:
        temporary.write_text(header + data.config)
    shutil.rmtree(data.cache_path)
    cache_root = directory / CACHE_SUBDIRECTORY
    if not any(cache_root.iterdir()):  # other runs' unfinished chunks are left alone
        cache_root.rmdir()
    return paths
