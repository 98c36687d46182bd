"""Renamed parameters: the old spelling keeps working for a release, with a ``FutureWarning``."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable

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


def warn_renamed(old: str, use: str, *, stacklevel: int = 3) -> None:
    """Warn that the public name ``old`` was renamed in sklens 1.0 and goes in 1.1; ``use`` says what to use.

    Parameters
    ----------
    old : str
        The old name, as the user wrote it (``'resolve_config(lambda_mmd=...)'``).
    use : str
        What to write instead (``"lambda_da={'mmd': ...}"``).
    stacklevel : int
        As in ``warnings.warn``: 2 points at the caller of the function that warns.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_renamed("--ensemble", "--seeds-in-one-pass")
    >>> print(caught[0].message)
    --ensemble was renamed in sklens 1.0 and will be removed in 1.1; use --seeds-in-one-pass.
    """
    warnings.warn(
        f"{old} was renamed in sklens 1.0 and will be removed in 1.1; use {use}.",
        FutureWarning,
        stacklevel=stacklevel,
    )


class FormerAttribute:
    """A public attribute that was renamed: reading it reads its replacement, with a FutureWarning.

    Parameters
    ----------
    use : str
        What to read instead, for the message (``"lambda_da['mmd']"``).
    read : callable
        Reads the value from an instance of the class.

    Examples
    --------
    >>> class Config:
    ...     weights = {"mmd": 1.4}
    ...     lambda_mmd = FormerAttribute("weights['mmd']", lambda config: config.weights["mmd"])
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     Config().lambda_mmd
    1.4
    """

    def __init__(self, use: str, read: Callable[[object], object]) -> None:
        self.use, self.read = use, read

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = f"{owner.__name__}.{name}"

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        warn_renamed(self.name, self.use)
        return self.read(instance)


def moved_names(module: str, moves: dict[str, str]) -> Callable[[str], object]:
    """A module-level ``__getattr__`` that finds each name of ``moves`` in its new module, with a warning.

    Parameters
    ----------
    module : str
        The old module's name (its ``__name__``).
    moves : dict
        Each moved name and the module it moved to.

    Returns
    -------
    callable
        Assign it to the old module's ``__getattr__``.

    Examples
    --------
    >>> __getattr__ = moved_names("old.module", {"SCALINGS": "sklens.experiments.data"})
    """

    def __getattr__(name: str) -> object:
        if name not in moves:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warn_renamed(f"{module}.{name}", f"{moves[name]}.{name}")
        return getattr(importlib.import_module(moves[name]), name)

    return __getattr__
