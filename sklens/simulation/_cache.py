"""The on-disk chunk cache of simulated images.

Layout: ``<cache_dir>/<key>/`` holds ``manifest.json`` (what the key stands for) and one
``chunk_<index>.npz`` per finished chunk (images and metadata, no pickles). The key is a
content hash of what decides the images: the configuration text, n, the seed, the chunk size and the
versions of deeplenstronomy, lenstronomy and sklens. sklens's version stands for its adapter, whose
patches (the sky brightness fix, the dropped first system) change the images: a release may change
them, so a new version starts a new cache rather than risk serving stale images. Every file is
written under a temporary name and renamed into place (:func:`sklens._atomic.atomic_write`), so a
file with a final name is always complete; an interrupted run leaves only files marked ``.tmp``,
which the next run removes before it resumes from the finished chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sklens._atomic import TEMPORARY_SUFFIX, atomic_write

if TYPE_CHECKING:
    import pandas as pd

CACHE_FORMAT = 1


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


def write_manifest(directory: Path, description: dict, config_text: str) -> None:
    """Record what the cache key stands for, for people looking into the cache."""
    content = dict(description, config=config_text)
    with atomic_write(directory / "manifest.json") as temporary:
        temporary.write_text(json.dumps(content, indent=2))


def chunk_path(directory: Path, index: int) -> Path:
    return directory / f"chunk_{index:06d}.npz"


def remove_temporaries(directory: Path) -> list[Path]:
    """Delete the leftovers of interrupted runs in ``directory`` and return their paths.

    These are half-written files and deeplenstronomy's private working directories.
    """
    leftovers = sorted(directory.glob(f"*{TEMPORARY_SUFFIX}*"))
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
    with atomic_write(path) as temporary:
        np.savez(temporary, **arrays)


def read_chunk(path: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """Load a chunk written by ``write_chunk``."""
    import pandas as pd

    with np.load(path, allow_pickle=False) as stored:
        columns = list(stored["columns"])
        data = {}
        for i, column in enumerate(columns):
            values = stored[f"column_{i}"]
            data[column] = values.astype(object) if values.dtype.kind == "U" else values
        return stored["images"], pd.DataFrame(data, columns=columns)
