"""read_fits: survey cutouts on disk to a float32 (n, C, H, W) array."""

from __future__ import annotations

import glob
import numbers
import os
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from joblib import Parallel, delayed, effective_n_jobs
from tqdm.auto import tqdm

from sklens.io._shape import check_size, crop_or_pad, crop_slices

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fits.fz", ".fz")
NAN_POLICIES = ("raise", "fill", "propagate")
ERROR_POLICIES = ("raise", "skip")
BACKENDS = ("threads", "processes")
PROGRESS_THRESHOLD = 1000
MAX_CHUNK = 256
DATASET_CREATOR = "sklens.io.write_fits"  # the CREATOR keyword of sklens.io.write_fits files
_IMAGE_HDU_TYPES = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)
# What astropy, gzip and zlib raise on unreadable files (TypeError: less data than declared).
_READ_FAILURES = (OSError, ValueError, TypeError, IndexError, KeyError, EOFError, zlib.error)


class FITSReadError(ValueError):
    """A FITS file (or one object's set of per-band files) could not be read.

    Attributes
    ----------
    source : str
        The file, or the object's files joined by ', '.
    reason : str
        What was wrong.
    """

    def __init__(self, source: str, reason: str):
        super().__init__(f"Could not read '{source}': {reason}")
        self.source = source
        self.reason = reason

    def __reduce__(self):
        return type(self), (self.source, self.reason)


@dataclass(frozen=True)
class _ReadOptions:
    hdu: int | str | None
    bands: tuple[int, ...] | None
    size: tuple[int, int] | None
    nan_policy: str
    fill_value: float
    pad_value: float


def read_fits(
    source,
    *,
    hdu: int | str | None = None,
    bands: int | Sequence[int] | None = None,
    size: int | tuple[int, int] | None = None,
    nan_policy: str = "raise",
    fill_value: float = 0.0,
    pad_value: float = 0.0,
    errors: str = "raise",
    n_jobs: int | None = 1,
    backend: str = "threads",
    progress: bool | None = None,
):
    """Read survey cutouts from FITS files into a float32 array of shape (n, C, H, W).

    Each object is either one file holding a 2-D image (C = 1) or a 3-D band cube (C, H, W), or
    a list of per-band files each holding one 2-D image. Plain, gzip-compressed (``.fits.gz``)
    and tile-compressed (``.fits.fz``, CompImageHDU) files are read; big-endian data is
    converted to native byte order and integer images are scaled by BSCALE/BZERO (BLANK pixels
    become NaN). Uncompressed files are memory-mapped, so cropping a large image reads only
    the crop.

    Parameters
    ----------
    source : str, os.PathLike, sequence or array-like
        One file; a directory (its FITS files in sorted order); a glob pattern such as
        ``'cutouts/*.fits.fz'``; or a sequence of objects, each a path or a sequence of
        per-band paths. A 1-D array (or pandas Series) of paths is one file per object, a 2-D
        array (or DataFrame) one row of per-band paths per object.
    hdu : int, str or None, default=None
        The HDU holding the image, by index or EXTNAME. None takes the first image HDU with
        data, so images in the primary HDU and in an extension (as in ``.fits.fz``) both work.
    bands : int or sequence of int, optional
        Which bands to keep, in this order: planes of a 3-D cube, or positions in each
        object's list of per-band files (only those files are opened). None keeps all.
    size : int or (int, int), optional
        Centre-crop or pad every image to (H, W); the pixel at index ``n // 2`` stays the
        centre pixel. Without it, images of different sizes raise an error listing the sizes.
    nan_policy : {'raise', 'fill', 'propagate'}, default='raise'
        What to do with NaN or infinite pixels (counted after cropping): ``'raise'`` names the
        file and the counts; ``'fill'`` replaces them with ``fill_value``; ``'propagate'`` keeps
        them, so ``np.isfinite(images)`` is the mask of valid pixels. A masked-array mode is
        deliberately absent: the networks take plain arrays, and a mask would be dropped
        silently on the way in.
    fill_value : float, default=0.0
        Replacement for NaN and infinite pixels with ``nan_policy='fill'``.
    pad_value : float, default=0.0
        Value of the pixels added by ``size`` where an image is smaller.
    errors : {'raise', 'skip'}, default='raise'
        ``'raise'`` stops at the first unreadable object with a [`FITSReadError`][sklens.io.FITSReadError]
        naming the file and the reason (missing files are all reported before any reading starts).
        ``'skip'`` leaves unreadable objects out, warns, and returns a Bunch saying which.
    n_jobs : int or None, default=1
        Parallel readers (joblib); -1 uses all cores.
    backend : {'threads', 'processes'}, default='threads'
        How to run parallel readers. Threads start at once but share the GIL, and reading a
        small file is mostly Python (header parsing); processes can use idle cores but each
        first imports sklens (and torch) and sends its images back by copy. Measured on a busy
        2-core machine, threads were the faster of the two (docs/performance.md).
    progress : bool or None, default=None
        Show a progress bar with the rate and the time left; None shows it from 1,000 objects.

    Returns
    -------
    numpy.ndarray or sklearn.utils.Bunch
        With ``errors='raise'``: the float32 images, shape (n, C, H, W), native byte order.
        With ``errors='skip'``: a Bunch with ``images`` (as above, the readable objects only),
        ``indices`` (positions of those objects in the resolved source list), ``sources``
        (the objects read) and ``skipped`` (a list of ``(object, reason)`` pairs).

    Raises
    ------
    FileNotFoundError
        Files that do not exist (all of them are listed), an empty directory or a glob
        matching nothing.
    FITSReadError
        A file that is not FITS, truncated or corrupt (also a failed DATASUM), without image
        data in the chosen HDU, with the wrong number of dimensions or bands, or with NaN
        pixels under ``nan_policy='raise'``.
    ValueError
        Images of different sizes without ``size``, different band counts, or bad arguments.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from sklens.io import read_fits
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     fits.PrimaryHDU(np.full((2, 10, 10), i, dtype=">f4")).writeto(folder / f"{i}.fits")
    >>> images = read_fits(folder, size=8)
    >>> images.shape, images.dtype, images[2, 0, 0, 0]
    ((3, 2, 8, 8), dtype('float32'), np.float32(2.0))
    >>> read_fits(folder / "*.fits", bands=[1]).shape
    (3, 1, 10, 10)
    """
    options = _ReadOptions(
        hdu=_check_hdu(hdu),
        bands=_check_bands(bands),
        size=None if size is None else check_size(size),
        nan_policy=_check_choice(nan_policy, NAN_POLICIES, "nan_policy"),
        fill_value=float(fill_value),
        pad_value=float(pad_value),
    )
    _check_choice(errors, ERROR_POLICIES, "errors")
    _check_choice(backend, BACKENDS, "backend")
    objects = resolve_sources(source)
    _check_band_lists(objects, options.bands)
    if errors == "raise":
        _check_files_exist(objects, options.bands)

    show = len(objects) >= PROGRESS_THRESHOLD if progress is None else bool(progress)
    results = _read_objects(objects, options, n_jobs, backend, show)
    images, indices, skipped = [], [], []
    for index, (obj, (image, reason)) in enumerate(zip(objects, results, strict=True)):
        if reason is None:
            images.append(image)
            indices.append(index)
        elif errors == "raise":
            raise FITSReadError(_describe(obj), reason)
        else:
            skipped.append((_object_as_given(obj), reason))

    if errors == "raise":
        return _stack(images, [objects[i] for i in indices])
    return _skip_result(objects, images, indices, skipped)


def resolve_sources(source) -> list[tuple[str, ...]]:
    """Turn ``source`` into a list of objects, each a tuple of one or more file paths.

    Parameters
    ----------
    source : str, os.PathLike, sequence or array-like
        As for [`read_fits`][sklens.io.read_fits].

    Returns
    -------
    list of tuple of str
        One tuple per object: one path, or one path per band.

    Examples
    --------
    >>> from sklens.io import resolve_sources
    >>> resolve_sources([["a_g.fits", "a_r.fits"], ["b_g.fits", "b_r.fits"]])
    [('a_g.fits', 'a_r.fits'), ('b_g.fits', 'b_r.fits')]
    """
    if isinstance(source, (str, os.PathLike)):
        return [(path,) for path in _expand_path(os.fspath(source))]
    if hasattr(source, "to_numpy"):  # pandas Series or DataFrame of paths
        source = source.to_numpy()
    if isinstance(source, np.ndarray) and source.ndim > 2:
        raise ValueError(f"source array must be 1-D or 2-D (per-band paths); got shape {source.shape}.")
    if not isinstance(source, (Sequence, np.ndarray)) or len(source) == 0:
        raise ValueError(
            "source must be a path, a directory, a glob pattern or a non-empty sequence of paths; "
            f"got {source!r}."
        )
    return [_as_object(item, position) for position, item in enumerate(source)]


def _expand_path(path: str) -> list[str]:
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, name)
            for name in os.listdir(path)
            if name.lower().endswith(FITS_SUFFIXES) and os.path.isfile(os.path.join(path, name))
        )
        if not files:
            raise FileNotFoundError(f"Directory '{path}' holds no FITS files ({', '.join(FITS_SUFFIXES)}).")
        return files
    if glob.has_magic(path):
        files = sorted(name for name in glob.glob(path) if os.path.isfile(name))
        if not files:
            raise FileNotFoundError(f"The pattern '{path}' matches no files.")
        return files
    return [path]


def _as_object(item, position: int) -> tuple[str, ...]:
    if isinstance(item, (str, os.PathLike)):
        return (os.fspath(item),)
    if isinstance(item, (Sequence, np.ndarray)) and len(item) > 0:
        if all(isinstance(path, (str, os.PathLike)) for path in item):
            return tuple(os.fspath(path) for path in item)
    raise ValueError(
        f"source[{position}] must be a path or a non-empty list of per-band paths; got {item!r}."
    )


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}.")
    return value


def _check_hdu(hdu) -> int | str | None:
    if hdu is None or isinstance(hdu, str):
        return hdu
    if isinstance(hdu, numbers.Integral) and not isinstance(hdu, bool) and hdu >= 0:
        return int(hdu)
    raise ValueError(f"hdu must be None, a non-negative index or an EXTNAME; got {hdu!r}.")


def _check_bands(bands) -> tuple[int, ...] | None:
    if bands is None:
        return None
    values = (bands,) if isinstance(bands, numbers.Integral) else tuple(bands)
    if not values or any(
        not isinstance(band, numbers.Integral) or isinstance(band, bool) or band < 0 for band in values
    ):
        raise ValueError(f"bands must be a non-negative int or a non-empty list of them; got {bands!r}.")
    return tuple(int(band) for band in values)


def _check_band_lists(objects: list[tuple[str, ...]], bands: tuple[int, ...] | None) -> None:
    """Per-band objects must all list the same number of files, enough for ``bands``."""
    counts = Counter(len(obj) for obj in objects if len(obj) > 1)
    if not counts:
        return
    if len(counts) > 1 or any(len(obj) == 1 for obj in objects):
        found = ", ".join(
            f"{count} objects with {n} file(s)" for n, count in sorted(Counter(map(len, objects)).items())
        )
        raise ValueError(f"Every object must list the same number of per-band files; found {found}.")
    n_files = next(iter(counts))
    if bands is not None and max(bands) >= n_files:
        raise ValueError(
            f"bands={list(bands)} asks for band {max(bands)}, but each object has {n_files} files."
        )


def _check_files_exist(objects: list[tuple[str, ...]], bands: tuple[int, ...] | None) -> None:
    """List every missing file that would be opened (per-band files of unselected bands are not)."""
    opened = (_files_to_open(obj, bands) for obj in objects)
    missing = [path for files in opened for path in files if not os.path.isfile(path)]
    if missing:
        shown = ", ".join(f"'{path}'" for path in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise FileNotFoundError(f"{len(missing)} of the FITS files do not exist: {shown}")


def _read_objects(objects, options: _ReadOptions, n_jobs, backend: str, show: bool) -> Iterator:
    """Yield ``(image, None)`` or ``(None, reason)`` per object, in order, with a progress bar."""
    if effective_n_jobs(n_jobs) == 1:
        chunks = ([_read_object_safely(obj, options)] for obj in objects)
    else:
        # Chunks of files per task: one task per file costs more in dispatch than the read.
        size = _chunk_size(len(objects), effective_n_jobs(n_jobs))
        parallel = Parallel(n_jobs=n_jobs, prefer=backend, return_as="generator")
        chunks = parallel(
            delayed(_read_chunk)(objects[start : start + size], options)
            for start in range(0, len(objects), size)
        )
    with tqdm(total=len(objects), desc="Reading FITS", unit="file", disable=not show) as bar:
        for chunk in chunks:
            bar.update(len(chunk))
            yield from chunk


def _chunk_size(n_objects: int, n_workers: int) -> int:
    """About eight chunks per worker (for load balance and a live progress bar), at most 256."""
    return max(1, min(MAX_CHUNK, -(-n_objects // (8 * n_workers))))


def _read_chunk(objects: list[tuple[str, ...]], options: _ReadOptions) -> list:
    return [_read_object_safely(obj, options) for obj in objects]


def _read_object_safely(obj: tuple[str, ...], options: _ReadOptions):
    try:
        return _read_object(obj, options), None
    except FITSReadError as exc:
        return None, exc.reason


def _read_object(obj: tuple[str, ...], options: _ReadOptions) -> np.ndarray:
    """Read one object (one file, or one file per band) as float32 (C, H, W)."""
    if len(obj) == 1:
        image = _read_file(obj[0], options, bands=options.bands, one_plane=False)
    else:
        files = _files_to_open(obj, options.bands)
        planes = [_read_file(path, options, bands=None, one_plane=True) for path in files]
        _check_same_band_sizes(files, planes)
        image = np.concatenate(planes)
    return _apply_nan_policy(image, obj, options)


def _files_to_open(obj: tuple[str, ...], bands: tuple[int, ...] | None) -> tuple[str, ...]:
    """A single file is always opened; of per-band files, only the selected bands'."""
    if len(obj) == 1 or bands is None:
        return obj
    return tuple(obj[band] for band in bands)


def _check_same_band_sizes(files, planes) -> None:
    sizes = {plane.shape[-2:] for plane in planes}
    if len(sizes) > 1:
        listed = ", ".join(
            f"'{path}' {h}x{w}" for path, (h, w) in zip(files, (p.shape[-2:] for p in planes), strict=True)
        )
        raise FITSReadError(", ".join(files), f"its band images differ in size ({listed}); pass size=(H, W)")


def _read_file(path: str, options: _ReadOptions, *, bands, one_plane: bool) -> np.ndarray:
    try:
        with fits.open(path) as hdul:  # memory-mapped where astropy can (unscaled, uncompressed)
            _refuse_datasets(hdul, path)
            hdu = _select_hdu(hdul, options.hdu, path)
            if "DATASUM" in hdu.header and hdu.verify_datasum() == 0:
                raise FITSReadError(
                    path, f"HDU {hdul.index_of(hdu)} fails its DATASUM check (corrupted data)"
                )
            return _image_data(hdu, path, options, bands, one_plane)
    except FITSReadError:
        raise
    except _READ_FAILURES as exc:
        raise FITSReadError(path, _failure_reason(exc, path)) from exc


def _refuse_datasets(hdul: fits.HDUList, path: str) -> None:
    """A write_fits file is a stack of objects (n, C, H, W), not one object's cutout."""
    if hdul[0].header.get("CREATOR") == DATASET_CREATOR:
        raise FITSReadError(
            path,
            f"it is a dataset of {hdul[0].header.get('NIMAGES', '?')} images written by "
            "write_fits; read it with sklens.io.read_fits_dataset",
        )


def _failure_reason(exc: Exception, path: str) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the file does not exist"
    if isinstance(exc, (EOFError, zlib.error)):
        return f"the compressed file is truncated or corrupt ({exc})"
    # astropy only warns about truncation on opening; reading then fails with one of these.
    if "buffer is too small" in str(exc) or "cannot reshape array" in str(exc):
        return (
            "the file is truncated: it holds less data than its header declares "
            f"({os.path.getsize(path)} bytes)"
        )
    if isinstance(exc, OSError) and ("SIMPLE" in str(exc) or "Empty or corrupt" in str(exc)):
        return f"not a FITS file, or an empty or corrupt one ({exc})"
    return f"{type(exc).__name__}: {exc}"


def _select_hdu(hdul: fits.HDUList, wanted: int | str | None, path: str):
    if wanted is None:
        for hdu in hdul:
            if isinstance(hdu, _IMAGE_HDU_TYPES) and _has_data(hdu):
                return hdu
        raise FITSReadError(path, f"no HDU holds image data ({_list_hdus(hdul)}){_size_hint(path)}")
    try:
        hdu = hdul[wanted]
    except (IndexError, KeyError):
        raise FITSReadError(path, f"it has no HDU {wanted!r} ({_list_hdus(hdul)})") from None
    if not isinstance(hdu, _IMAGE_HDU_TYPES):
        raise FITSReadError(
            path, f"HDU {wanted!r} is a {type(hdu).__name__}, not an image ({_list_hdus(hdul)})"
        )
    if not _has_data(hdu):
        raise FITSReadError(path, f"HDU {wanted!r} has no data ({_list_hdus(hdul)})")
    return hdu


def _size_hint(path: str) -> str:
    """A FITS file is a whole number of 2880-byte blocks; other sizes point at truncation."""
    if path.lower().endswith(".gz") or os.path.getsize(path) % 2880 == 0:
        return ""
    return f"; its size, {os.path.getsize(path)} bytes, is not a multiple of 2880: truncated?"


def _has_data(hdu) -> bool:
    return len(hdu.shape) > 0 and 0 not in hdu.shape


def _list_hdus(hdul: fits.HDUList) -> str:
    """Describe every HDU, e.g. 'HDUs: 0 PRIMARY: image, no data; 1 SCI: image, 64x64'."""
    return "HDUs: " + "; ".join(
        f"{index} {hdu.name or '(unnamed)'}: {_describe_hdu(hdu)}" for index, hdu in enumerate(hdul)
    )


def _describe_hdu(hdu) -> str:
    if not isinstance(hdu, _IMAGE_HDU_TYPES):
        return type(hdu).__name__
    return "image, " + ("x".join(map(str, hdu.shape)) if _has_data(hdu) else "no data")


def _image_data(hdu, path: str, options: _ReadOptions, bands, one_plane: bool) -> np.ndarray:
    """The HDU's image as float32 (C, H, W), reading only the planes and crop needed."""
    shape = hdu.shape
    if len(shape) == 4:
        raise FITSReadError(
            path,
            f"its image is 4-D {shape}, a stack of objects; read it with sklens.io.read_fits_dataset",
        )
    if len(shape) not in (2, 3):
        raise FITSReadError(
            path,
            f"its image has {len(shape)} dimensions {shape}; expected a 2-D image or a 3-D (C, H, W) cube",
        )
    n_planes = 1 if len(shape) == 2 else shape[0]
    if one_plane and n_planes != 1:
        raise FITSReadError(
            path, f"a per-band file must hold one 2-D image, but it holds {n_planes} planes {shape}"
        )
    planes = list(range(n_planes)) if bands is None else list(bands)
    if max(planes) >= n_planes:
        raise FITSReadError(path, f"bands={planes} asks for band {max(planes)}, but the file has {n_planes}")
    crop = crop_slices(shape[-2:], options.size) if options.size else (slice(None), slice(None))
    # ``section`` reads only the planes and crop asked for, applying BSCALE/BZERO/BLANK.
    if len(shape) == 2:
        image = hdu.section[crop][None]
    elif bands is None:
        image = hdu.section[(slice(None), *crop)]
    else:
        image = np.stack([hdu.section[(plane, *crop)] for plane in planes])
    image = np.array(image, dtype=np.float32)  # a native-order copy; the memory map is released
    return crop_or_pad(image, options.size, options.pad_value) if options.size else image


def _apply_nan_policy(image: np.ndarray, obj: tuple[str, ...], options: _ReadOptions) -> np.ndarray:
    if options.nan_policy == "propagate":
        return image
    bad = ~np.isfinite(image)
    if not bad.any():
        return image
    if options.nan_policy == "fill":
        image[bad] = options.fill_value
        return image
    n_nan = int(np.isnan(image).sum())
    raise FITSReadError(
        _describe(obj),
        f"{n_nan} NaN and {int(bad.sum()) - n_nan} infinite pixels (of {image.size}); "
        "pass nan_policy='fill' (with fill_value) or 'propagate'",
    )


def _describe(obj: tuple[str, ...]) -> str:
    return ", ".join(obj)


def _object_as_given(obj: tuple[str, ...]) -> str | tuple[str, ...]:
    return obj[0] if len(obj) == 1 else obj


def _stack(images: list[np.ndarray], objects: list[tuple[str, ...]]) -> np.ndarray:
    """Stack per-object images, or raise listing the shapes found and example files."""
    shapes = Counter(image.shape for image in images)
    if len(shapes) > 1:
        examples = {}
        for image, obj in zip(images, objects, strict=True):
            examples.setdefault(image.shape, _describe(obj))
        found = "; ".join(
            f"{count} x (C={c}, H={h}, W={w}) e.g. '{examples[(c, h, w)]}'"
            for (c, h, w), count in shapes.most_common()
        )
        raise ValueError(
            f"The images differ in shape: {found}. Pass size=(H, W) to centre-crop or pad them, "
            "or bands= to choose the same bands."
        )
    return np.stack(images)


def _skip_result(objects, images, indices, skipped):
    from sklearn.utils import Bunch  # imported here: reader processes need not import sklearn

    if not images:
        first = "; ".join(f"'{source}': {reason}" for source, reason in skipped[:3])
        raise ValueError(f"All {len(objects)} objects were skipped as unreadable, e.g. {first}")
    if skipped:
        warnings.warn(
            f"read_fits skipped {len(skipped)} of {len(objects)} unreadable objects "
            "(listed in the result's 'skipped'), e.g. "
            f"'{skipped[0][0]}': {skipped[0][1]}",
            stacklevel=3,
        )
    return Bunch(
        images=_stack(images, [objects[i] for i in indices]),
        indices=np.asarray(indices, dtype=np.intp),
        sources=[_object_as_given(objects[i]) for i in indices],
        skipped=skipped,
    )
