"""Image preprocessing as scikit-learn transformers: FITS loading, normalisation, crops, bands.

Every transformer takes and returns float32 images of shape (n, C, H, W) (``FITSLoader`` takes
paths), keeps the number of rows, and so works in a ``Pipeline`` with the sklens estimators,
including the packed source + target form, whose target-domain rows (NaN labels) pass through the
same transforms as the source rows.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from sklens._validation import as_float_array, check_images
from sklens.domains import target_rows
from sklens.io import read_fits
from sklens.io._read import BACKENDS, NAN_POLICIES
from sklens.io._shape import check_size, crop_or_pad

__all__ = ["CenterCrop", "FITSLoader", "ImageNormalizer", "SelectBands"]

NORMALIZER_METHODS = ("standard", "scale", "robust", "minmax", "asinh")
NORMALIZER_SCOPES = ("image", "dataset", "domain")
DOMAINS = ("source", "target")
MAD_TO_STD = 1.482602218505602  # 1 / Phi^-1(3/4): the MAD of a Gaussian times this is its std


class _StatelessTransformer(TransformerMixin, BaseEstimator):
    """A transformer whose ``fit`` only checks the parameters; ``transform`` works unfitted.

    Subclasses define ``_check_params``, which raises on invalid parameters.
    """

    def fit(self, X, y=None):
        """Check the parameters; nothing is learned.

        Parameters
        ----------
        X : array-like
            Ignored apart from validation.
        y : array-like, optional
            Ignored.

        Returns
        -------
        self
        """
        self._check_params()
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


def _images(X, name: str = "X") -> np.ndarray:
    """X as float32 (n, C, H, W), NaN allowed (cropping and band selection do not care)."""
    arr = as_float_array(X, name)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise ValueError(f"{name} must have shape (n, C, H, W) or (n, H, W); got shape {arr.shape}.")
    return arr


class FITSLoader(_StatelessTransformer):
    """Read FITS files named in ``X`` into float32 images (n, C, H, W).

    A stateless wrapper around [`sklens.io.read_fits`][sklens.io.read_fits], so that a ``Pipeline`` can take
    file paths: ``X`` is a list (or array, or pandas Series) of paths, one per object, or of per-band
    path lists (a 2-D array or DataFrame: one row of per-band paths per object). Row i of the
    output is object i of ``X``, so ``y`` stays aligned.

    Unreadable files always raise: skipping them here would leave fewer images than labels. To
    find and drop bad files first, call ``read_fits(paths, errors='skip')`` and keep the
    ``indices`` it returns.

    Parameters
    ----------
    hdu : int, str or None, default=None
        HDU holding the image (index or EXTNAME); None: the first image HDU with data.
    bands : int or sequence of int, optional
        Bands to keep, in this order (planes of a cube or positions in per-band lists).
    size : int or (int, int), optional
        Centre-crop or pad every image to this size; without it mixed sizes raise.
    nan_policy : {'raise', 'fill', 'propagate'}, default='raise'
        NaN/inf pixels: raise naming the file, replace by ``fill_value``, or keep.
    fill_value : float, default=0.0
        Replacement for NaN/inf with ``nan_policy='fill'``.
    pad_value : float, default=0.0
        Value of pixels added by ``size``.
    n_jobs : int or None, default=1
        Parallel readers.
    backend : {'threads', 'processes'}, default='threads'
        How parallel readers run.
    progress : bool or None, default=None
        Progress bar; None shows it from 1,000 files.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from sklens.preprocessing import FITSLoader
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> paths = [folder / f"{i}.fits" for i in range(4)]
    >>> for i, path in enumerate(paths):
    ...     fits.PrimaryHDU(np.full((20, 20), i, dtype=np.float32)).writeto(path)
    >>> FITSLoader(size=16).fit_transform(paths).shape
    (4, 1, 16, 16)
    """

    def __init__(
        self,
        hdu: int | str | None = None,
        bands: int | Sequence[int] | None = None,
        size: int | tuple[int, int] | None = None,
        nan_policy: str = "raise",
        fill_value: float = 0.0,
        pad_value: float = 0.0,
        n_jobs: int | None = 1,
        backend: str = "threads",
        progress: bool | None = None,
    ):
        self.hdu = hdu
        self.bands = bands
        self.size = size
        self.nan_policy = nan_policy
        self.fill_value = fill_value
        self.pad_value = pad_value
        self.n_jobs = n_jobs
        self.backend = backend
        self.progress = progress

    def _check_params(self) -> None:
        if self.nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}; got {self.nan_policy!r}.")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}; got {self.backend!r}.")
        if self.size is not None:
            check_size(self.size)

    def transform(self, X) -> np.ndarray:
        """Read the files.

        Parameters
        ----------
        X : sequence or array-like of paths
            One path (or one list of per-band paths) per object.

        Returns
        -------
        numpy.ndarray of shape (n, C, H, W)
            float32 images, row i read from ``X[i]``.
        """
        self._check_params()
        return read_fits(
            X,
            hdu=self.hdu,
            bands=self.bands,
            size=self.size,
            nan_policy=self.nan_policy,
            fill_value=self.fill_value,
            pad_value=self.pad_value,
            errors="raise",
            n_jobs=self.n_jobs,
            backend=self.backend,
            progress=self.progress,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


class CenterCrop(_StatelessTransformer):
    """Centre-crop or pad images to a fixed size.

    The pixel at index ``n // 2`` of each axis stays the centre pixel, so cropping and padding
    back are exact inverses. NaN pixels are allowed and pass through.

    Parameters
    ----------
    size : int or (int, int)
        Output (H, W); an int means a square.
    pad_value : float, default=0.0
        Value of pixels added where an image is smaller than ``size``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklens.preprocessing import CenterCrop
    >>> images = np.arange(2 * 5 * 5, dtype=np.float32).reshape(2, 1, 5, 5)
    >>> CenterCrop(3).fit_transform(images)[0, 0]
    array([[ 6.,  7.,  8.],
           [11., 12., 13.],
           [16., 17., 18.]], dtype=float32)
    """

    def __init__(self, size: int | tuple[int, int] = 32, pad_value: float = 0.0):
        self.size = size
        self.pad_value = pad_value

    def _check_params(self) -> None:
        check_size(self.size)

    def transform(self, X) -> np.ndarray:
        """Crop or pad.

        Parameters
        ----------
        X : array-like of shape (n, C, h, w) or (n, h, w)
            Images.

        Returns
        -------
        numpy.ndarray of shape (n, C, H, W)
            float32 images of size ``size`` (a new array; ``X`` is not modified).
        """
        images = _images(X)
        out = crop_or_pad(images, check_size(self.size), float(self.pad_value))
        return out.copy() if np.shares_memory(out, images) else out


class SelectBands(_StatelessTransformer):
    """Keep some bands (channels) of multi-band images, in a given order.

    Parameters
    ----------
    bands : int or sequence of int
        Channel indices to keep, e.g. ``[0, 2]`` for g and z of a g, r, z cube.

    Attributes
    ----------
    n_channels_in_ : int
        Channels seen in ``fit``; ``transform`` checks that it receives as many.

    Examples
    --------
    >>> import numpy as np
    >>> from sklens.preprocessing import SelectBands
    >>> images = np.stack([np.full((2, 4, 4), band, dtype=np.float32) for band in range(3)], axis=1)
    >>> SelectBands([2, 0]).fit_transform(images)[0, :, 0, 0]
    array([2., 0.], dtype=float32)
    """

    def __init__(self, bands: int | Sequence[int] = 0):
        self.bands = bands

    def _check_params(self) -> tuple[int, ...]:
        values = (self.bands,) if isinstance(self.bands, numbers.Integral) else tuple(self.bands)
        if not values or any(
            not isinstance(b, numbers.Integral) or isinstance(b, bool) or b < 0 for b in values
        ):
            raise ValueError(f"bands must be a non-negative int or a list of them; got {self.bands!r}.")
        return tuple(int(b) for b in values)

    def fit(self, X, y=None):
        """Check ``bands`` against the channels of ``X``.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W) or (n, H, W)
            Images.
        y : array-like, optional
            Ignored.

        Returns
        -------
        self
        """
        images = _images(X)
        self._select(images)
        self.n_channels_in_ = images.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """Select the bands.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W) or (n, H, W)
            Images.

        Returns
        -------
        numpy.ndarray of shape (n, len(bands), H, W)
            float32 images (a new array).
        """
        images = _images(X)
        fitted_channels = getattr(self, "n_channels_in_", images.shape[1])
        if images.shape[1] != fitted_channels:
            raise ValueError(
                f"X has {images.shape[1]} channels, but SelectBands was fitted on {fitted_channels}."
            )
        return self._select(images)

    def _select(self, images: np.ndarray) -> np.ndarray:
        bands = self._check_params()
        if max(bands) >= images.shape[1]:
            raise ValueError(
                f"bands={list(bands)} asks for band {max(bands)}, but X has {images.shape[1]} channels."
            )
        return images[:, list(bands)]


class ImageNormalizer(TransformerMixin, BaseEstimator):
    """Normalise image pixel values: standardise, scale, min-max or asinh stretch.

    Statistics come from each image alone (``scope='image'``), from all training images
    (``'dataset'``), or from each domain's training images separately (``'domain'``). The
    source and target domains of a domain-adaptation problem can differ ~23x in flux; how the
    images are scaled changes that problem, and the choice should be reported with results.
    See ``docs/fits.md`` for the trade-offs.

    Parameters
    ----------
    method : {'scale', 'standard', 'robust', 'minmax', 'asinh'}, default='scale'
        With statistics computed over the pixels of the scope (per channel by default):

        - ``'standard'``: ``(x - mean) / std``.
        - ``'scale'``: ``x / std``; no centring, so zero (the sky level of background-subtracted
          cutouts) stays zero. With ``scope='domain'`` this is the "divide each domain by its
          own pixel std" that closed most of the paper's domain gap.
        - ``'robust'``: ``(x - median) / (1.4826 * MAD)``; MAD about the median, so the scale
          is the background noise, not the signal.
        - ``'minmax'``: ``(x - min) / (max - min)``, to [0, 1] on the fitted data.
        - ``'asinh'``: ``arcsinh(x / (softening * noise))`` with noise = 1.4826 * MAD: linear
          within ~``softening`` noise levels of zero, logarithmic above, so bright and faint
          lenses land on a similar range.
    scope : {'image', 'dataset', 'domain'}, default='image'
        ``'image'``: each image's own statistics; needs no labels and treats source and target
        rows identically, so it is the simplest sound choice for domain adaptation.
        ``'dataset'``: statistics of all rows seen by ``fit``, pooled over domains.
        ``'domain'``: separate statistics for source rows (finite ``y``) and target rows (``y``
        all NaN, the packed form) in ``fit``; ``fit_transform(X, y)`` normalises each row with
        its own domain's statistics, ``transform(X)`` (and so ``predict``) with those of
        ``domain``.
    per_channel : bool, default=True
        Separate statistics per band; False pools all bands.
    softening : float, default=1.0
        For ``'asinh'``: the linear-to-logarithmic transition, in units of the noise.
    domain : {'target', 'source'}, default='target'
        For ``scope='domain'``: whose statistics ``transform`` uses. A pipeline's ``predict``
        and ``score`` call ``transform``; to score source rows, ``set_params`` this to
        ``'source'`` (for a pipeline, ``normalizer__domain='source'``).

    Attributes
    ----------
    center_ : dict of str to numpy.ndarray
        Subtracted statistic per group (``'all'``, or ``'source'`` and ``'target'``), shape
        (C,) or (1,) without ``per_channel``; absent for ``scope='image'``.
    scale_ : dict of str to numpy.ndarray
        Divisor per group, as ``center_``. Zero or non-finite scales (constant images) are
        replaced by 1, as in scikit-learn's StandardScaler.
    n_channels_in_ : int
        Channels of the images seen in ``fit``.
    n_source_rows_ : int
        Source rows seen in ``fit`` (``scope='domain'`` only).
    n_target_rows_ : int
        Target rows seen in ``fit`` (``scope='domain'`` only).

    Examples
    --------
    >>> import numpy as np
    >>> from sklens.preprocessing import ImageNormalizer
    >>> rng = np.random.default_rng(0)
    >>> source = rng.normal(size=(4, 1, 8, 8)) * 23.0  # 23x brighter than the target
    >>> target = rng.normal(size=(4, 1, 8, 8))
    >>> X = np.concatenate([source, target])
    >>> y = np.array([0.5, 1.0, 1.5, 2.0] + [np.nan] * 4)  # NaN: unlabelled target rows
    >>> per_domain = ImageNormalizer(method="scale", scope="domain").fit(X, y)
    >>> ratio = per_domain.scale_["source"][0] / per_domain.scale_["target"][0]
    >>> bool(np.isclose(ratio, 23, rtol=0.2))
    True
    >>> out = ImageNormalizer(method="scale", scope="image").fit_transform(X)
    >>> [round(float(image.std()), 3) for image in out[[0, 4]]]
    [1.0, 1.0]
    """

    def __init__(
        self,
        method: str = "scale",
        scope: str = "image",
        per_channel: bool = True,
        softening: float = 1.0,
        domain: str = "target",
    ):
        self.method = method
        self.scope = scope
        self.per_channel = per_channel
        self.softening = softening
        self.domain = domain

    def fit(self, X, y=None):
        """Learn the statistics of ``scope`` (nothing for ``scope='image'``).

        Parameters
        ----------
        X : array-like of shape (n, C, H, W) or (n, H, W)
            Images, finite.
        y : array-like of shape (n,) or (n, k), optional
            Labels; required for ``scope='domain'``, where rows whose labels are all NaN are the
            target domain and the others the source.

        Returns
        -------
        self
        """
        self._check_params()
        images = check_images(X)
        self.n_channels_in_ = images.shape[1]
        if self.scope == "dataset":
            center, scale = self._statistics(images, axes=self._axes(dataset=True))
            self.center_, self.scale_ = {"all": center}, {"all": scale}
        elif self.scope == "domain":
            is_target = _domain_rows(y, len(images))
            self.n_source_rows_, self.n_target_rows_ = int((~is_target).sum()), int(is_target.sum())
            self.center_, self.scale_ = {}, {}
            for name, rows in (("source", ~is_target), ("target", is_target)):
                stats = self._statistics(images[rows], axes=self._axes(dataset=True))
                self.center_[name], self.scale_[name] = stats
        return self

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """Fit, then normalise; with ``scope='domain'`` each row by its own domain's statistics.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W) or (n, H, W)
            Images.
        y : array-like of shape (n,) or (n, k), optional
            Labels (NaN rows: target domain).
        **fit_params : dict
            Unused; accepted for the scikit-learn signature.

        Returns
        -------
        numpy.ndarray of shape (n, C, H, W)
            float32 normalised images.
        """
        self.fit(X, y)
        if self.scope != "domain":
            return self.transform(X)
        images = check_images(X)
        is_target = _domain_rows(y, len(images))
        out = np.empty_like(images)
        for name, rows in (("source", ~is_target), ("target", is_target)):
            out[rows] = self._apply(images[rows], self.center_[name], self.scale_[name])
        return out

    def transform(self, X) -> np.ndarray:
        """Normalise images.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W) or (n, H, W)
            Images, finite.

        Returns
        -------
        numpy.ndarray of shape (n, C, H, W)
            float32 normalised images (a new array).
        """
        check_is_fitted(self, "n_channels_in_")
        images = check_images(X)
        if images.shape[1] != self.n_channels_in_:
            raise ValueError(
                f"X has {images.shape[1]} channels, but ImageNormalizer was fitted on {self.n_channels_in_}."
            )
        if self.scope == "image":
            return self._apply(images, *self._statistics(images, axes=self._axes(dataset=False)))
        group = "all" if self.scope == "dataset" else self.domain
        return self._apply(images, self.center_[group], self.scale_[group])

    def _check_params(self) -> None:
        for name, value, choices in (
            ("method", self.method, NORMALIZER_METHODS),
            ("scope", self.scope, NORMALIZER_SCOPES),
            ("domain", self.domain, DOMAINS),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}; got {value!r}.")
        if not isinstance(self.softening, numbers.Real) or not self.softening > 0:
            raise ValueError(f"softening must be a positive number; got {self.softening!r}.")

    def _axes(self, *, dataset: bool) -> tuple[int, ...]:
        """Axes the statistics reduce over: per image or over all rows, per channel or not."""
        if dataset:
            return (0, 2, 3) if self.per_channel else (0, 1, 2, 3)
        return (2, 3) if self.per_channel else (1, 2, 3)

    def _statistics(self, images: np.ndarray, axes: tuple[int, ...]):
        """(center, scale) over ``axes``; dataset statistics come back as 1-D per-channel arrays."""
        pixels = images.astype(np.float64)
        if self.method in ("standard", "scale"):
            center = pixels.mean(axis=axes, keepdims=True)
            scale = pixels.std(axis=axes, keepdims=True)
            if self.method == "scale":
                center = np.zeros_like(center)
        elif self.method in ("robust", "asinh"):
            median = np.median(pixels, axis=axes, keepdims=True)
            scale = MAD_TO_STD * np.median(np.abs(pixels - median), axis=axes, keepdims=True)
            center = median if self.method == "robust" else np.zeros_like(median)
            if self.method == "asinh":
                scale = scale * self.softening
        else:  # minmax
            center = pixels.min(axis=axes, keepdims=True)
            scale = pixels.max(axis=axes, keepdims=True) - center
        scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
        if 0 in axes:  # dataset statistics: store per channel
            return center.reshape(-1), scale.reshape(-1)
        return center, scale

    def _apply(self, images: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        if center.ndim == 1:  # per-channel dataset statistics
            center, scale = center[None, :, None, None], scale[None, :, None, None]
        out = (images - center) / scale
        if self.method == "asinh":
            out = np.arcsinh(out)
        return out.astype(np.float32)


def _domain_rows(y, n_rows: int) -> np.ndarray:
    """Target-row mask of ``y`` for ``scope='domain'``, which needs rows of both domains."""
    if y is None:
        raise ValueError(
            "scope='domain' needs y in fit: rows with NaN labels are the target domain, the "
            "others the source (the packed form)."
        )
    is_target = target_rows(y)
    if len(is_target) != n_rows:
        raise ValueError(f"y has {len(is_target)} rows but X has {n_rows}.")
    for name, count in (("source", (~is_target).sum()), ("target", is_target.sum())):
        if count == 0:
            raise ValueError(
                f"scope='domain' needs {name}-domain rows in fit; y has none "
                "(target rows are those whose labels are NaN)."
            )
    return is_target
