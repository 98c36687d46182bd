"""FITS input and output for sklens.

- [`read_fits`][sklens.io.read_fits]: survey cutouts (one file per object, or one file per band) to a float32
  array of shape (n, C, H, W).
- [`write_fits`][sklens.io.write_fits] and [`read_fits_dataset`][sklens.io.read_fits_dataset]: a whole dataset
  (images, labels, metadata) in one file, read back losslessly.

The dataset functions are imported on first use, so that read_fits's worker processes, which
import this package, start without astropy.table and scikit-learn.
"""

from sklens.io._read import FITSReadError, read_fits, resolve_sources

__all__ = ["FITSReadError", "read_fits", "read_fits_dataset", "resolve_sources", "write_fits"]


def __getattr__(name: str):
    if name in ("read_fits_dataset", "write_fits"):
        from sklens.io import _dataset

        return getattr(_dataset, name)
    raise AttributeError(f"module 'sklens.io' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
