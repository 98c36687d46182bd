"""Fixtures and constants shared by the test modules.

Test modules import the constants and helpers (``from conftest import FAST``): pytest puts ``tests/``
on ``sys.path`` for this file (the folder is no package), and it is the only ``conftest.py`` there is.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sklens.regression import METHODS

REPOSITORY = Path(__file__).resolve().parents[1]

#: Every regressor class, in the order of ``sklens.regression.METHODS``.
REGRESSORS = list(METHODS.values())

#: A fit of seconds: two epochs of batches of 16 at a learning rate that moves tiny networks.
FAST = dict(max_epochs=2, batch_size=16, lr=1e-3, random_state=0)

#: The paper's configuration but its learning rate (``sklens.regression.PAPER_SETTINGS``): the point
#: head, one BatchNorm over both domains, the plain network and a constant rate, so no spread is
#: calibrated either. For tests of something other than the defaults on images (a save/load round trip,
#: a validation split, an ensemble's equivalences), where the gaussian head, domain BatchNorm, a
#: schedule or the calibration hold-out would change what is measured. A user's network takes no
#: ``module__feature_norm``: give it the others.
PAPER_LIKE = dict(head="point", domain_batchnorm=False, module__feature_norm=False, lr_schedule="constant")


def toy_images(n: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """``n`` seeded one-band 12 x 12 images of Gaussian noise, float32, times ``scale``."""
    return (np.random.default_rng(seed).normal(size=(n, 1, 12, 12)) * scale).astype(np.float32)


def toy_target(X: np.ndarray) -> np.ndarray:
    """A label the network can learn: four times the mean of the central 4 x 4 pixels."""
    return X[:, 0, 4:8, 4:8].mean(axis=(1, 2)) * 4


def pytest_configure(config):
    """Tests train with one torch thread (see ``one_torch_thread``), module-scoped fixtures included."""
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test trains with one torch thread. The networks here are tiny: a second thread only adds
    waiting, and on a two-core machine shared with other work two threads were measured 4 to 12 times
    slower than one (scikit-learn's estimator checks of CNNRegressor: 250 s against 20 s). Set again
    around each test: code that sets its own count (``sklens reproduce`` does, in-process with
    ``n_jobs=1``) would otherwise leave it to every test after it."""
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def toy():
    """48 labelled source images and 48 unlabelled target images 1.5 times as wide: ``X, y, X_tgt``.

    As many target rows as source rows: a plain ``X_tgt`` of the source's length is the case that
    cross-validation must refuse to slice (``tests/test_regression_sklearn.py``).
    """
    X = toy_images(48)
    return X, toy_target(X), toy_images(48, seed=1, scale=1.5)


@pytest.fixture
def load_script(monkeypatch):
    """Import a script of the repository (``benchmarks/x.py``, ``examples/y.py``) as a module.

    The module is registered in ``sys.modules`` for the test (dataclasses look their module up there)
    and removed after it.
    """

    def load(relative_path: str):
        path = REPOSITORY / relative_path
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
        return module

    return load
