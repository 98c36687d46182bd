"""rotation_std and rotation_spread: how predicted probabilities vary over the four 90-degree rotations."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklens import RotInvariantLensClassifier
from sklens.datasets import make_toy_lens_finding
from sklens.metrics import RotationSpread, rotation_spread, rotation_std


@pytest.fixture(scope="module")
def data():
    toy = make_toy_lens_finding(60, image_size=12, random_state=1)
    return toy.images, toy.target


def _flat_logistic(X, y):
    flatten = FunctionTransformer(lambda images: images.reshape(len(images), -1))
    return make_pipeline(flatten, LogisticRegression(max_iter=200)).fit(X, y)


def test_spread_is_the_std_of_the_four_rotated_probabilities(data):
    X, y = data
    model = _flat_logistic(X, y)
    p = np.stack([model.predict_proba(np.rot90(X, k, axes=(2, 3)))[:, 1] for k in range(4)])
    spread = rotation_spread(model, X)
    assert isinstance(spread, RotationSpread)
    assert spread.mean == pytest.approx(p.std(axis=0).mean())
    assert spread.max == pytest.approx(p.std(axis=0).max())
    assert spread.max > spread.mean > 0
    np.testing.assert_allclose(rotation_std(model, X), p.std(axis=0))


def test_invariant_classifier_has_zero_spread(data):
    X, y = data
    clf = RotInvariantLensClassifier(
        n_filters=(2, 2, 2), kernel_sizes=(3, 3, 3), hidden=(4, 4), max_epochs=1, random_state=0
    ).fit(X, y)
    assert rotation_spread(clf, X) == RotationSpread(mean=0.0, max=0.0)
    assert np.array_equal(rotation_std(clf, X), np.zeros(len(X)))


@pytest.mark.parametrize("metric", [rotation_spread, rotation_std])
def test_non_square_images_are_refused(data, metric):
    X, y = data
    with pytest.raises(ValueError, match="square"):
        metric(_flat_logistic(X[..., :10], y), X[..., :10])
