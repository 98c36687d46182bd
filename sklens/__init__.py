"""sklens: scikit-learn estimators for strong gravitational lenses with domain-adaptive deep networks."""

from importlib.metadata import PackageNotFoundError, version

from sklens.classification import LensClassifier, RotInvariantLensClassifier

try:
    __version__ = version("sklens")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.1.0"

__all__ = ["LensClassifier", "RotInvariantLensClassifier", "__version__"]
