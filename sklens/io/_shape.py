"""Centre crop or pad images to a fixed size, shared by read_fits and CenterCrop."""

from __future__ import annotations

import numbers

import numpy as np


def check_size(size, name: str = "size") -> tuple[int, int]:
    """Return ``size`` as a (height, width) pair of positive ints, or raise naming the problem."""
    pair = (size, size) if isinstance(size, numbers.Integral) else size
    try:
        height, width = pair
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or a (height, width) pair; got {size!r}.") from None
    for value in (height, width):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must hold positive ints; got {size!r}.")
    return int(height), int(width)


def centre_offset(current: int, wanted: int) -> int:
    """Offset that keeps the pixel at index ``n // 2`` (the centre pixel) in place.

    Cropping starts at ``current // 2 - wanted // 2``; padding puts the same number of pixels
    before the image, so crop and pad are exact inverses of each other.
    """
    return current // 2 - wanted // 2


def crop_slices(shape: tuple[int, int], size: tuple[int, int]) -> tuple[slice, slice]:
    """Slices along (H, W) that cut the centre ``size`` out of an image of ``shape`` (no pad)."""
    slices = []
    for current, wanted in zip(shape, size, strict=True):
        start = centre_offset(current, wanted) if current > wanted else 0
        slices.append(slice(start, start + min(current, wanted)))
    return slices[0], slices[1]


def crop_or_pad(images: np.ndarray, size: tuple[int, int], pad_value: float = 0.0) -> np.ndarray:
    """Centre-crop or pad the last two axes of ``images`` to ``size``.

    Parameters
    ----------
    images : numpy.ndarray of shape (..., h, w)
        Images; any leading axes are kept.
    size : tuple of int
        The wanted (H, W).
    pad_value : float
        Value of the pixels added where the image is smaller than ``size``.

    Returns
    -------
    numpy.ndarray of shape (..., H, W)
        The same array when it already has that size, otherwise a new one.
    """
    height, width = images.shape[-2:]
    if (height, width) == tuple(size):
        return images
    cropped = images[(..., *crop_slices((height, width), size))]
    if cropped.shape[-2:] == tuple(size):
        return cropped
    out = np.full((*images.shape[:-2], *size), pad_value, dtype=images.dtype)
    return _paste(out, cropped)


def _paste(out: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Put ``image`` into ``out`` so that their centre pixels (index n // 2) coincide."""
    top = out.shape[-2] // 2 - image.shape[-2] // 2
    left = out.shape[-1] // 2 - image.shape[-1] // 2
    out[..., top : top + image.shape[-2], left : left + image.shape[-1]] = image
    return out
