"""Renamed parameters: the old spelling keeps working for a release, with a ``FutureWarning``."""

from __future__ import annotations

import warnings

#: Default of a deprecated estimator parameter, so that ``get_params`` and ``clone`` keep working.
DEPRECATED = "deprecated"


def renamed(
    owner: str,
    old: str,
    old_value,
    new: str,
    new_value,
    unset=DEPRECATED,
    since: str = "0.2",
    removal: str = "0.4",
):
    """Return the value to use for ``new``: ``old_value`` (with a ``FutureWarning``) when it was set.

    Parameters
    ----------
    owner : str
        The class whose parameter was renamed, for the message.
    old : str
        The old name.
    old_value
        The value given under the old name.
    new : str
        The new name.
    new_value
        The value given under the new name.
    unset
        The value of ``old_value`` when the old name was not used.
    since, removal : str
        The release that renamed it, and the one that will remove the old name.

    Examples
    --------
    >>> renamed("LensClassifier", "n_hidden", "deprecated", "hidden", (8, 8))
    (8, 8)
    """
    if old_value is unset or (isinstance(old_value, str) and old_value == unset):
        return new_value
    warnings.warn(
        f"{owner}: the parameter {old!r} was renamed {new!r} in sklens {since} and the old name will be "
        f"removed in {removal}; use {new}={old_value!r}.",
        FutureWarning,
        stacklevel=3,
    )
    return old_value


def warn_renamed_attribute(owner: str, old: str, new: str) -> None:
    """Warn that the fitted attribute ``old`` of ``owner`` is now ``new`` (removed in 0.4)."""
    warnings.warn(
        f"the fitted attribute {old} of {owner} was replaced by {new} in sklens 0.2 and will be removed "
        "in 0.4.",
        FutureWarning,
        stacklevel=3,
    )
