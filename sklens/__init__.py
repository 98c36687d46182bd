"""sklens: scikit-learn estimators for strong gravitational lenses with domain-adaptive deep networks.

The estimators are imported lazily (PEP 562), so ``import sklens`` and light modules such as
``sklens.io`` do not pay for importing torch until an estimator is used.
"""

from importlib import import_module

# The one place the version is written: pyproject.toml reads it from here (setuptools' ``attr:``),
# so a source tree and an installed copy of it cannot disagree.
__version__ = "1.0.0"

_LAZY = {
    "CNNRegressor": "sklens.regression",
    "CORALRegressor": "sklens.regression",
    "DANNRegressor": "sklens.regression",
    "DAREGRAMRegressor": "sklens.regression",
    "LensClassifier": "sklens.classification",
    "MMDRegressor": "sklens.regression",
    "RSDRegressor": "sklens.regression",
    "RecalibratedRegressor": "sklens.calibration",
    "RotInvariantLensClassifier": "sklens.classification",
    "TargetData": "sklens.domains",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sklens' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
