"""The on-disk chunk cache of simulated images.

Layout: ``<cache_dir>/<key>/`` holds ``manifest.json`` (what the key stands for) and one
``chunk_<index>.npz`` per finished chunk (images and metadata, no pickles). The key is a
content hash of what decides the images: the configuration text, n, the seed, the chunk size and the
versions of deeplenstronomy, lenstronomy and sklens. sklens's version stands for its adapter, whose
patches (the sky brightness fix, the dropped first system) change the images: a release may change
them, so a new version starts a new cache rather than risk serving stale images. Every file is written under a temporary name and renamed into
place, so a file with a final name is always complete; an interrupted run leaves only ``*.tmp``
files, which the next run removes before it resumes from the finished chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

CACHE_FORMAT = 1
TEMPORARY_SUFFIX = ".tmp"


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def cache_key(config_text: str, n: int, seed: int, chunk_size: int) -> tuple[str, dict]:
    """Return (hex key, the description hashed into it)."""
    from sklens import __version__

    description = {
        "cache_format": CACHE_FORMAT,
        "config_sha256": hashlib.sha256(config_text.encode()).hexdigest(),
        "n": int(n),
        "seed": int(seed),
        "chunk_size": int(chunk_size),
        "sklens": __version__,
        "deeplenstronomy": _package_version("deeplenstronomy"),
        "lenstronomy": _package_version("lenstronomy"),
    }
    blob = json.dumps(description, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:32], description


def prepare_directory(directory: str | os.PathLike) -> Path:
    """Create ``directory`` if needed and check that files can be written in it.

    Raises
    ------
    ValueError
        If it cannot be created or written to; the message names it.
    """
    path = Path(directory).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-", suffix=TEMPORARY_SUFFIX):
            pass
    except OSError as exc:
        raise ValueError(f"cache_dir {str(path)!r} is not a writable directory: {exc}") from exc
    return path


def temporary_name(path: Path) -> Path:
    """A fresh name next to ``path`` for writing before ``os.replace`` (ends in ``.tmp``)."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")


def atomic_write(path: Path, write) -> None:
    """Call ``write(binary_file_object)`` on a temporary file next to ``path``, then rename it.

    The temporary file is created like any other (the umask applies), so the final file has
    ordinary permissions; on any failure it is removed and ``path`` is left as it was.
    """
    temporary = temporary_name(path)
    try:
        with temporary.open("xb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_manifest(directory: Path, description: dict, config_text: str) -> None:
    """Record what the cache key stands for, for people looking into the cache."""
    content = dict(description, config=config_text)
    blob = json.dumps(content, indent=2).encode()
    atomic_write(directory / "manifest.json", lambda stream: stream.write(blob))


def chunk_path(directory: Path, index: int) -> Path:
    return directory / f"chunk_{index:06d}.npz"


def remove_temporaries(directory: Path) -> list[Path]:
    """Delete the leftovers of interrupted runs in ``directory`` and return their paths.

    These are half-written files and deeplenstronomy's private working directories.
    """
    leftovers = sorted(directory.glob(f"*{TEMPORARY_SUFFIX}"))
    for path in leftovers:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return leftovers


def write_chunk(path: Path, images: np.ndarray, metadata: pd.DataFrame) -> None:
    """Store one chunk atomically: the images and every metadata column, without pickles."""
    arrays = {"images": images, "columns": np.array(metadata.columns, dtype=str)}
    for i, column in enumerate(metadata.columns):
        values = metadata[column].to_numpy()
        arrays[f"column_{i}"] = values.astype(str) if values.dtype == object else values
    atomic_write(path, lambda stream: np.savez(stream, **arrays))


def read_chunk(path: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """Load a chunk written by :func:`write_chunk`."""
    with np.load(path, allow_pickle=False) as stored:
        columns = list(stored["columns"])
        data = {}
        for i, column in enumerate(columns):
            values = stored[f"column_{i}"]
            data[column] = values.astype(object) if values.dtype.kind == "U" else values
        return stored["images"], pd.DataFrame(data, columns=columns)
