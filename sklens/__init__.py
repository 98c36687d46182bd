"""sklens: scikit-learn estimators for strong gravitational lenses with domain-adaptive deep networks."""

from importlib.metadata import PackageNotFoundError, version

from sklens.classification import LensClassifier, RotInvariantLensClassifier
from sklens.domains import TargetData
from sklens.regression import CNNRegressor, CORALRegressor, DANNRegressor, MMDRegressor

try:
    __version__ = version("sklens")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.1.0"

__all__ = [
    "CNNRegressor",
    "CORALRegressor",
    "DANNRegressor",
    "LensClassifier",
    "MMDRegressor",
    "RotInvariantLensClassifier",
    "TargetData",
    "__version__",
]
