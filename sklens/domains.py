"""Source and target domains: the packed form and the target wrapper.

NumPy only, so that the validation modules ([`sklens.model_selection`][sklens.model_selection],
[`sklens.preprocessing`][sklens.preprocessing]) use it without importing torch. The torch side of the
target domain, the batch sampler, is [`TargetSampler`][sklens.nn.sampling.TargetSampler].
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from sklens._validation import as_float_array, check_images
from sklens.exceptions import UnlabelledRowsWarning


class TargetData:
    """Unlabelled target-domain inputs, wrapped so scikit-learn never slices them.

    GridSearchCV and ``cross_validate`` slice every fit parameter that is array-like with as many rows
    as X. Wrapping the target set keeps it whole in every fold::

        GridSearchCV(DANNRegressor(), grid).fit(X, y, X_tgt=TargetData(X_tgt))

    Parameters
    ----------
    X : array-like
        Target inputs, of the same per-row shape as the source inputs.

    Examples
    --------
    >>> import numpy as np
    >>> TargetData(np.zeros((5, 1, 8, 8))).X.shape
    (5, 1, 8, 8)
    """

    def __init__(self, X) -> None:
        self.X = X

    def __repr__(self) -> str:
        return f"TargetData(shape={np.shape(self.X)})"


def _inside_sklearn_cross_validation() -> bool:
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_name == "_fit_and_score" and frame.f_globals.get("__name__", "").startswith(
            "sklearn.model_selection"
        ):
            return True
        frame = frame.f_back
    return False


def unwrap_target(X_tgt, n_source_rows: int):
    """Return the raw target array, refusing a plain array that scikit-learn may have sliced."""
    if isinstance(X_tgt, TargetData):
        return X_tgt.X
    if X_tgt is not None and len(X_tgt) == n_source_rows and _inside_sklearn_cross_validation():
        raise ValueError(
            "X_tgt has as many rows as X inside a scikit-learn cross-validation, which slices such fit "
            "parameters with the fold's source indices. Pass X_tgt=sklens.TargetData(X_tgt) to keep "
            "the whole target set, or use the packed form fit(X, y) with NaN y for target rows."
        )
    return X_tgt


def target_rows(y) -> np.ndarray:
    """Return the mask of the target rows of the packed form: rows whose ``y`` is NaN in every output.

    Parameters
    ----------
    y : array-like of shape (n,) or (n, k)
        Labels of the source rows, NaN for target rows.

    Returns
    -------
    numpy.ndarray of shape (n,)
        Boolean, True for target rows.

    Raises
    ------
    ValueError
        If ``y`` is not numeric or has rows that are NaN in some outputs only (a target row is NaN
        in all).

    Examples
    --------
    >>> import numpy as np
    >>> target_rows([1.0, np.nan, 2.0])
    array([False,  True, False])
    >>> target_rows([[1.0, 2.0], [np.nan, np.nan]])
    array([False,  True])
    """
    y = as_float_array(y, "y")
    missing = np.isnan(y.reshape(len(y), -1))
    is_target = missing.all(axis=1)
    partial = missing.any(axis=1) & ~is_target
    if partial.any():
        raise ValueError(
            f"{int(partial.sum())} rows of y are NaN in some outputs only (e.g. row "
            f"{int(np.argmax(partial))}); a target row is NaN in all."
        )
    return is_target


def split_packed(X, y, X_tgt=None, *, allow_tabular: bool = True):
    """Split inputs into labelled source rows and unlabelled target rows.

    Rows whose ``y`` is NaN in every output are target rows (see
    [`target_rows`][sklens.domains.target_rows]); ``X_tgt``, if given, adds more target rows. Returns
    ``(X_src, y_src, X_tgt)`` with ``y_src`` of shape (n, k) and ``X_tgt`` possibly None. Every problem
    raises a ``ValueError`` that names it. Inputs that already are float32 and C-contiguous
    (memory maps included) are not copied unless their rows must be separated: ``X`` when it holds
    rows of both domains, ``X_tgt`` when ``X`` holds target rows too. The results may be read-only.
    """
    X = check_images(X, "X", allow_tabular=allow_tabular, read_only_ok=True)
    if y is None:
        raise ValueError(
            "requires y to be passed, but the target y is None: give the labels of the source rows "
            "(NaN marks target rows)."
        )
    y = as_float_array(y, "y")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] == 0:
        raise ValueError(f"y must have shape (n,) or (n, k) with k >= 1 parameters; got shape {y.shape}.")
    if len(y) != len(X):
        raise ValueError(f"y has {len(y)} rows but X has {len(X)}.")
    is_target = target_rows(y)
    if np.isinf(y).any():
        raise ValueError("y contains infinite values.")
    X_src, y_src = (X, y) if not is_target.any() else (X[~is_target], y[~is_target])
    if len(X_src) == 0:
        rows = (
            "the rows of this cross-validation fold"
            if _inside_sklearn_cross_validation()
            else "the rows given"
        )
        raise ValueError(
            f"{rows} have no labelled rows: every y is NaN, so there are no source rows to learn from. "
            "The packed form needs both domains in every fold; split by domain with "
            "sklens.model_selection.DomainStratifiedKFold, which keeps source and target rows in every "
            "train and test fold."
        )
    targets = [X[is_target]] if is_target.any() else []
    X_tgt = unwrap_target(X_tgt, len(X))
    if X_tgt is not None:
        X_tgt = check_images(X_tgt, "X_tgt", allow_tabular=allow_tabular, read_only_ok=True)
        if targets:
            warnings.warn(
                f"{len(targets[0])} rows of X have a y that is NaN in every column while X_tgt is given "
                f"separately: they are used as unlabelled target rows beside the {len(X_tgt)} rows of "
                "X_tgt (the packed form). If they are simulated lenses whose label is missing, drop them "
                "before fitting.",
                UnlabelledRowsWarning,
                stacklevel=3,
            )
        targets.append(X_tgt)
    X_tgt = None if not targets else targets[0] if len(targets) == 1 else np.concatenate(targets)
    if X_tgt is not None and X_tgt.shape[1:] != X_src.shape[1:]:
        raise ValueError(
            f"X_tgt rows have shape {X_tgt.shape[1:]} but X rows have shape {X_src.shape[1:]}; "
            "source and target must have the same channels and image size."
        )
    return X_src, y_src, X_tgt
