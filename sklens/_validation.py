"""Input checks shared by every estimator and transformer.

Each check raises a ``ValueError`` that names the argument and the problem before any long work starts.
"""

from __future__ import annotations

import numbers
import secrets
import sys

import numpy as np
import scipy.sparse


class NonNumericDataError(ValueError, TypeError):
    """Input that is not numeric: a ``ValueError`` (sklens's rule) and a ``TypeError`` (NumPy's)."""


def resolve_device(device) -> str:
    """Return a concrete torch device string for ``device``.

    ``'auto'`` (or ``None``) means CUDA when torch sees a CUDA device, else the CPU. Only then is
    torch imported.
    """
    if device is None or device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def as_float_array(X, name: str = "X", *, read_only_ok: bool = False) -> np.ndarray:
    """Convert ``X`` to a float32 C-contiguous numpy array, refusing non-numeric data with a clear message.

    An array that already is one is returned as it is, without a copy; a read-only one (a memory map,
    joblib's shared arrays) too when ``read_only_ok`` (the caller promises not to write to it), else
    as a writeable copy.
    """
    torch = sys.modules.get("torch")  # a tensor implies torch is imported; never import it here
    if torch is not None and isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if scipy.sparse.issparse(X):
        raise TypeError(f"{name} is a sparse matrix; sparse input is not supported, pass a dense array.")
    try:
        arr = np.asarray(X)
        if arr.dtype == object:
            arr = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:  # ragged lists, strings and the like
        raise NonNumericDataError(f"{name} must be numeric and could not be converted: {exc}") from exc
    if np.iscomplexobj(arr):
        raise ValueError(f"Complex data not supported: {name} holds complex numbers.")
    if not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise NonNumericDataError(f"{name} must be numeric; got dtype {arr.dtype}.")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    return arr if arr.flags.writeable or read_only_ok else arr.copy()


def check_finite(arr: np.ndarray, name: str = "X") -> None:
    """Raise if ``arr`` holds NaN or infinite values, saying how many and in which rows."""
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad.reshape(len(arr), -1) if arr.ndim > 1 else bad)[0])
        shown = ", ".join(str(r) for r in rows[:5]) + (" ..." if len(rows) > 5 else "")
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite values (rows {shown}); "
            "clean or fill them first (e.g. sklens.io.read_fits(..., nan_policy='fill'))."
        )


def check_images(
    X, name: str = "X", *, allow_tabular: bool = False, read_only_ok: bool = False
) -> np.ndarray:
    """Validate a batch of images and return it as float32 (n, C, H, W).

    Parameters
    ----------
    X : array-like
        Images of shape (n, C, H, W) or (n, H, W) (one band). With ``allow_tabular``, (n, n_features)
        is accepted and returned unchanged.
    name : str
        The argument's name, used in error messages.
    allow_tabular : bool
        Accept 2-D (n_samples, n_features) data.
    read_only_ok : bool
        Return read-only float32 input as it is (see ``as_float_array``).

    Returns
    -------
    numpy.ndarray
        float32 array of shape (n, C, H, W), or (n, n_features) for tabular input.
    """
    arr = as_float_array(X, name, read_only_ok=read_only_ok)
    if arr.ndim == 3:
        arr = arr[:, None]
    valid_ndims = (2, 4) if allow_tabular else (4,)
    if arr.ndim not in valid_ndims:
        expected = "(n, C, H, W) or (n, H, W)" + (" or (n, n_features)" if allow_tabular else "")
        hint = " Reshape your data: one row per sample." if arr.ndim < 2 else ""
        raise ValueError(f"{name} must have shape {expected}; got shape {arr.shape}.{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 rows).")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    check_finite(arr, name)
    return arr


def as_model_input(
    X, input_shape: tuple[int, ...], estimator: str, name: str = "X", *, read_only_ok: bool = False
) -> tuple[np.ndarray, bool]:
    """Validate inputs for a model fitted on rows of ``input_shape``; say whether ``X`` was one image.

    Every sklens estimator reads prediction input this way. For an image model (``input_shape`` is
    (C, H, W)), a 2-D array is one single-band image, a 3-D array is one (C, H, W) image when the model
    has several bands and a batch of single-band images when it has one, and a 4-D array is a batch.
    Estimators drop the batch axis of their output for one image, as ``model.predict(X)[0]`` would.

    Parameters
    ----------
    X : array-like
        Images, one image, or (n, n_features) rows for a tabular model.
    input_shape : tuple of int
        Shape of one training row: (C, H, W) or (n_features,).
    estimator : str
        The estimator's name, used in error messages.
    name : str
        The argument's name, used in error messages.
    read_only_ok : bool
        Return read-only float32 input as it is (see ``as_float_array``).

    Returns
    -------
    batch : numpy.ndarray
        float32 array of shape (n, *input_shape).
    single : bool
        Whether ``X`` was one image.

    Examples
    --------
    >>> batch, single = as_model_input(np.zeros((8, 8)), (1, 8, 8), "CNNRegressor")
    >>> batch.shape, single
    ((1, 1, 8, 8), True)
    """
    input_shape = tuple(int(s) for s in input_shape)
    arr = as_float_array(X, name, read_only_ok=read_only_ok)
    is_image_model = len(input_shape) == 3
    single = is_image_model and (arr.ndim == 2 or (arr.ndim == 3 and input_shape[0] > 1))
    if single:
        arr = arr.reshape(1, -1, *arr.shape[-2:])
    arr = check_images(arr, name, allow_tabular=not is_image_model, read_only_ok=read_only_ok)
    if arr.shape[1:] == input_shape:
        return arr, single
    if arr.ndim == 2 and len(input_shape) == 1:
        raise ValueError(
            f"{name} has {arr.shape[1]} features, but {estimator} is expecting {input_shape[0]} features "
            "as input."
        )
    raise ValueError(
        f"{name} has rows of shape {arr.shape[1:]}, but {estimator} was fitted on rows of shape "
        f"{input_shape} (channels and image size must match)."
    )


def check_n_jobs(n_jobs) -> int:
    """Return ``n_jobs`` as an int, refusing 0 and non-integers (-1 means every core, as in joblib)."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer (-1 for all cores); got {n_jobs!r}.")
    return int(n_jobs)


def check_random_state_seed(random_state) -> int | None:
    """Return ``random_state`` as a non-negative int seed, or None, refusing other values.

    A ``numpy.random.RandomState`` gives a seed drawn from it (which advances it). Negative ints are
    refused, as numpy's and scikit-learn's seeds are.
    """
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state >= 0:
            return int(random_state)
    elif isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    raise ValueError(
        f"random_state must be None, a non-negative int or a numpy RandomState; got {random_state!r}."
    )


def resolve_seed(random_state) -> int:
    """Return a seed for ``random_state`` as :func:`check_random_state_seed` does, drawing one for None.

    For outputs that report the seed that made them (a simulation), so that they can be remade.
    """
    seed = check_random_state_seed(random_state)
    return secrets.randbits(32) if seed is None else seed
