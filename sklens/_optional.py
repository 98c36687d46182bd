"""Optional dependencies: where one is missing, say what needs it and which extra installs it.

The core install (``pip install sklens``) runs the estimators, ``sklens.io`` and the command line's
help. The extras add: ``sim`` (simulation with deeplenstronomy), ``plot`` (matplotlib figures),
``dask`` (``sklens.parallel``) and ``flow`` (zuko, for the regressors' ``head='flow'``).
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

# The modules each extra of pyproject.toml provides, by import name.
EXTRAS = {
    "sim": ("deeplenstronomy", "lenstronomy", "pandas", "yaml"),
    "plot": ("matplotlib",),
    "dask": ("distributed",),
    "flow": ("zuko",),
}


def install_command(*extras: str) -> str:
    """The pip command that installs sklens with ``extras``, e.g. ``pip install "sklens[sim]"``."""
    return f'pip install "sklens[{",".join(extras)}]"'


def import_optional(name: str, extra: str, user: str) -> ModuleType:
    """Import module ``name`` of the extra ``extra``, or say what needs it and how to install it.

    Parameters
    ----------
    name : str
        The module, e.g. ``'pandas'`` or ``'distributed.diagnostics.plugin'``.
    extra : str
        The extra that provides it (a key of ``EXTRAS``).
    user : str
        What needs it, for the message (e.g. ``'sklens.plotting'``).

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    ImportError
        If it cannot be imported; the message names ``user``, the module and the pip command.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(f"{user} needs {name.partition('.')[0]} ({exc}): {install_command(extra)}") from exc


def check_extras(*extras: str, user: str) -> None:
    """Raise before any work starts if a module of ``extras`` is not installed (nothing is imported).

    Raises
    ------
    ImportError
        Naming ``user``, the missing modules and the pip command that installs ``extras``.
    """
    missing = [name for extra in extras for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"{user} needs {', '.join(missing)}: {install_command(*extras)}")
