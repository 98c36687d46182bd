"""FITS input and output for sklens.

- :func:`read_fits`: survey cutouts (one file per object, or one file per band) to a float32
  array of shape (n, C, H, W).
- :func:`write_fits` and :func:`read_fits_dataset`: a whole dataset (images, labels, metadata)
  in one file, read back losslessly.
"""

from sklens.io._dataset import read_fits_dataset, write_fits
from sklens.io._read import FITSReadError, read_fits, resolve_sources

__all__ = ["FITSReadError", "read_fits", "read_fits_dataset", "resolve_sources", "write_fits"]
