"""Whole datasets in one FITS file: an image cube plus a catalogue of labels and metadata."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from sklearn.utils import Bunch

from sklens._atomic import atomic_write
from sklens._optional import import_optional
from sklens.io._read import DATASET_CREATOR

CATALOG_EXTNAME = "CATALOG"
TARGET_COLUMN = "target"


def write_fits(
    path: str | os.PathLike,
    images,
    target=None,
    metadata=None,
    overwrite: bool = False,
) -> Path:
    """Write images, labels and metadata to one FITS file, atomically.

    The images go to the primary HDU as a float32 cube of shape (n, C, H, W) (FITS axes
    NAXIS1=W, NAXIS2=H, NAXIS3=C, NAXIS4=n); the labels and metadata go to a binary table
    extension named ``'CATALOG'`` with one row per image and the labels in a column ``'target'``.
    Both HDUs carry FITS checksums, which [`read_fits_dataset`][sklens.io.read_fits_dataset] verifies. The
    file is first written under a temporary name in the same directory and then moved into place, so a reader
    never sees a half-written file and an interrupted write leaves nothing behind.

    Parameters
    ----------
    path : str or os.PathLike
        Output file. A name ending in ``.gz`` is written gzip-compressed.
    images : array-like of shape (n, C, H, W) or (n, H, W)
        Images; stored as float32 (values are converted, so float64 input loses the precision
        float32 cannot hold). NaN and inf pixels are stored as they are. The shape is kept:
        (n, H, W) input is read back as (n, H, W).
    target : array-like of shape (n,) or (n, k), optional
        Labels, kept with their dtype (NaN marks unlabelled rows in sklens's packed form and is
        stored as is).
    metadata : pandas.DataFrame or dict of array-likes, optional
        Per-image columns (numbers, booleans or strings), each of length n. A DataFrame must have
        the default index (0..n-1) and is read back as a DataFrame, a dict as a dict.
    overwrite : bool, default=False
        Replace an existing file. Without it an existing ``path`` raises ``FileExistsError``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        If the images are not 3-D or 4-D, a column's length differs from the number of images, a
        metadata column is called ``'target'`` or holds values FITS cannot store losslessly.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from sklens.io import write_fits, read_fits_dataset
    >>> tmp_dir = pathlib.Path(tempfile.mkdtemp())
    >>> images = np.zeros((3, 1, 8, 8), dtype=np.float32)
    >>> path = write_fits(tmp_dir / "lenses.fits", images, target=[0.5, 1.0, 2.0],
    ...                   metadata={"survey": ["DES", "DES", "LSST"]})
    >>> data = read_fits_dataset(path)
    >>> data.images.shape, data.target.tolist(), data.metadata["survey"].tolist()
    ((3, 1, 8, 8), [0.5, 1.0, 2.0], ['DES', 'DES', 'LSST'])
    """
    path = Path(path)
    cube = _image_cube(images)
    n_images = len(cube)
    columns, metadata_kind = _metadata_columns(metadata, n_images)
    target_ndim = 0
    if target is not None:
        target_array = _column_array(target, TARGET_COLUMN, n_images)
        if target_array.ndim > 2:
            raise ValueError(f"target must have shape (n,) or (n, k); got shape {target_array.shape}.")
        target_ndim = target_array.ndim
        columns = {TARGET_COLUMN: target_array, **columns}

    primary = fits.PrimaryHDU(data=cube)
    primary.header["NIMAGES"] = (n_images, "number of images (the slowest FITS axis)")
    primary.header["CREATOR"] = (DATASET_CREATOR, "software that wrote this file")
    catalog = _catalog_hdu(columns)
    catalog.header["NROWS"] = (n_images, "rows, one per image (also without columns)")
    catalog.header["TGTNDIM"] = (target_ndim, "0: no target, 1: shape (n,), 2: shape (n, k)")
    catalog.header["METAKIND"] = (metadata_kind, "how metadata was given: none, dict, dataframe")
    _write_atomically(fits.HDUList([primary, catalog]), path, overwrite)
    return path


def _catalog_hdu(columns: dict[str, np.ndarray]) -> fits.BinTableHDU:
    """Build the 'CATALOG' table, recording each column's numpy dtype (keywords SKDT1, ...)."""
    # astropy writes int8 columns as FITS logicals, so they travel as int16 and are cast back.
    stored = {name: col.astype(np.int16) if col.dtype == np.int8 else col for name, col in columns.items()}
    catalog = fits.table_to_hdu(Table(stored)) if stored else fits.BinTableHDU()
    catalog.name = CATALOG_EXTNAME
    for number, column in enumerate(columns.values(), start=1):
        catalog.header[f"SKDT{number}"] = (
            column.dtype.newbyteorder("=").str,
            "numpy dtype of column",
        )
    return catalog


def read_fits_dataset(path: str | os.PathLike) -> Bunch:
    """Read a file written by [`write_fits`][sklens.io.write_fits].

    Parameters
    ----------
    path : str or os.PathLike
        A file written by [`write_fits`][sklens.io.write_fits].

    Returns
    -------
    sklearn.utils.Bunch
        ``images``: float32 array in native byte order with the shape that was written;
        ``target``: the labels with their dtype and shape, or None if none were written;
        ``metadata``: a pandas DataFrame, a dict of arrays or None, as it was given.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a FITS file, is truncated or corrupt (checksum mismatch), or lacks the
        ``'CATALOG'`` extension that [`write_fits`][sklens.io.write_fits] writes.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from sklens.io import read_fits_dataset, write_fits
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "lenses.fits"
    >>> _ = write_fits(path, np.ones((2, 1, 4, 4)), target=np.array([[0.5, 1.0], [np.nan, np.nan]]))
    >>> data = read_fits_dataset(path)
    >>> sorted(data), data.target.shape
    (['images', 'metadata', 'target'], (2, 2))
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such FITS file: '{path}'.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", fits.verify.VerifyWarning)
            warnings.simplefilter("error", UserWarning)
            with fits.open(path, memmap=True, checksum=True) as hdul:
                images, catalog = _dataset_hdus(hdul, path)
                cube = np.array(images.data, dtype=np.float32)
                header = catalog.header
                table = Table.read(catalog, character_as_bytes=False) if catalog.columns else None
    except (OSError, TypeError, fits.verify.VerifyError, Warning) as exc:
        raise ValueError(
            f"Could not read '{path}' as a sklens dataset (truncated or corrupt?): {exc}"
        ) from exc
    columns = _table_columns(table, header)
    target = columns.pop(TARGET_COLUMN, None)
    if target is not None and header.get("TGTNDIM") == 2 and target.ndim == 1:
        target = target[:, None]  # a (n, 1) target is stored as a scalar column
    return Bunch(images=cube, target=target, metadata=_metadata_from_columns(columns, header))


def _image_cube(images) -> np.ndarray:
    # Imported here: sklens._validation imports torch, which read_fits's worker processes avoid.
    from sklens._validation import as_float_array

    cube = as_float_array(images, "images")
    if cube.ndim not in (3, 4):
        raise ValueError(f"images must have shape (n, C, H, W) or (n, H, W); got shape {cube.shape}.")
    if cube.shape[0] == 0:
        raise ValueError("images is empty (0 rows); there is nothing to write.")
    return cube


def _metadata_columns(metadata, n_images: int) -> tuple[dict[str, np.ndarray], str]:
    """Return the metadata as a dict of checked numpy columns, and how it was given."""
    if metadata is None:
        return {}, "none"
    if isinstance(metadata, dict):
        kind, items = "dict", metadata.items()
    elif hasattr(metadata, "columns") and hasattr(metadata, "index"):  # a pandas DataFrame
        _check_default_index(metadata, n_images)
        kind, items = "dataframe", ((name, metadata[name]) for name in metadata.columns)
    else:
        raise ValueError(
            f"metadata must be a pandas DataFrame, a dict of columns or None; got {type(metadata).__name__}."
        )
    columns = {}
    for name, values in items:
        if not isinstance(name, str):
            raise ValueError(f"metadata column names must be strings; got {name!r}.")
        if name.lower() == TARGET_COLUMN:
            raise ValueError(
                f"metadata has a column called {name!r}; that name is reserved for the target. "
                "Rename it, or pass the labels as target=."
            )
        if name.lower() in (existing.lower() for existing in columns):
            raise ValueError(
                f"metadata column names must differ in more than case (FITS); got {name!r} twice."
            )
        columns[name] = _column_array(values, f"metadata column {name!r}", n_images)
    return columns, kind


def _check_default_index(frame, n_images: int) -> None:
    if len(frame) != n_images:
        raise ValueError(f"metadata has {len(frame)} rows but there are {n_images} images.")
    if not np.array_equal(np.asarray(frame.index), np.arange(n_images)):
        raise ValueError(
            "metadata has a non-default index, which a FITS table cannot store; "
            "call metadata.reset_index() to keep it as a column."
        )


def _column_array(values, name: str, n_rows: int) -> np.ndarray:
    """Convert one column to a numpy array FITS stores losslessly, or raise saying why not."""
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if array.ndim == 0 or len(array) != n_rows:
        length = "a scalar" if array.ndim == 0 else f"{len(array)} rows"
        raise ValueError(f"{name} has {length} but there are {n_rows} images.")
    if array.dtype == object:
        array = _strings_or_raise(array, name)
    if array.dtype.kind == "U":
        _check_fits_strings(array, name)
    elif array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} has dtype {array.dtype}; FITS tables here hold numbers, booleans and strings. "
            "Convert it (e.g. dates to ISO strings) first."
        )
    return array


def _strings_or_raise(array: np.ndarray, name: str) -> np.ndarray:
    if not all(isinstance(value, str) for value in array.ravel()):
        kinds = sorted({type(value).__name__ for value in array.ravel()})
        raise ValueError(
            f"{name} mixes value types {kinds}; a FITS column holds one type. "
            "Missing strings must be written explicitly (e.g. '')."
        )
    return array.astype(str)


def _check_fits_strings(array: np.ndarray, name: str) -> None:
    for value in array.ravel():
        if not value.isascii():
            raise ValueError(f"{name} holds the non-ASCII string {value!r}; FITS strings are ASCII.")
        if value != value.rstrip(" ") or "\x00" in value:
            raise ValueError(
                f"{name} holds {value!r}, with trailing spaces or NUL characters, which FITS "
                "does not keep; strip them first."
            )


def _write_atomically(hdul: fits.HDUList, path: Path, overwrite: bool) -> None:
    """Write to a temporary name in the target directory, then move it into place."""
    if not path.parent.is_dir():
        raise FileNotFoundError(f"Cannot write '{path}': directory '{path.parent}' does not exist.")
    # The temporary name keeps the final suffix, so astropy compresses a '.gz' name.
    with atomic_write(path, overwrite=overwrite) as temporary:
        hdul.writeto(temporary, checksum=True)


def _dataset_hdus(hdul: fits.HDUList, path: Path) -> tuple[fits.PrimaryHDU, fits.BinTableHDU]:
    if hdul[0].data is None:
        raise ValueError(f"'{path}' has no image cube in its primary HDU; was it written by write_fits?")
    if CATALOG_EXTNAME not in hdul:
        names = [hdu.name for hdu in hdul]
        raise ValueError(
            f"'{path}' has no '{CATALOG_EXTNAME}' extension (HDUs: {names}); was it written by write_fits?"
        )
    return hdul[0], hdul[CATALOG_EXTNAME]


def _table_columns(table: Table | None, header: fits.Header) -> dict[str, np.ndarray]:
    """Return the table's columns as numpy arrays with the dtypes written, in native byte order."""
    if table is None:
        return {}
    columns = {}
    for number, name in enumerate(table.colnames, start=1):
        array = np.asarray(table[name])
        dtype = np.dtype(header.get(f"SKDT{number}", array.dtype.newbyteorder("=")))
        columns[name] = array.astype(dtype)
    return columns


def _metadata_from_columns(columns: dict[str, np.ndarray], header: fits.Header):
    kind = header.get("METAKIND", "dict")
    if kind == "none":
        return None
    if kind == "dataframe":
        pd = import_optional("pandas", "sim", "reading metadata written from a pandas DataFrame")
        return pd.DataFrame(columns, index=pd.RangeIndex(header["NROWS"]))
    return columns
