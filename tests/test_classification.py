"""LensClassifier and RotInvariantLensClassifier: training, exact invariance, sklearn use."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklens import LensClassifier, RotInvariantLensClassifier
from sklens.datasets import make_toy_lens_finding
from sklens.metrics import rotation_spread
from sklens.nn.lensfinder import LensFinderCNN

SMALL = {
    "n_filters": (4, 8, 8),
    "kernel_sizes": (5, 3, 3),
    "hidden": (16, 16),
    "lr": 3e-3,
    "batch_size": 32,
    "max_epochs": 10,
    "patience": None,
    "random_state": 0,
}
MODELS = {
    "plain": lambda **kw: LensClassifier(**{**SMALL, **kw}),
    "input": lambda **kw: RotInvariantLensClassifier(invariance="input", **{**SMALL, **kw}),
    "group": lambda **kw: RotInvariantLensClassifier(invariance="group", **{**SMALL, **kw}),
}
INVARIANT = ["input", "group"]


@pytest.fixture(scope="module")
def data():
    toy = make_toy_lens_finding(400, image_size=20, random_state=0)
    return toy.images[:250], toy.target[:250], toy.images[250:], toy.target[250:]


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _, _ = data
    return {name: make(verbose=0).fit(X, y) for name, make in MODELS.items()}


def _rotations(X):
    return [np.rot90(X, k, axes=(-2, -1)).copy() for k in range(4)]


@pytest.mark.parametrize("name", list(MODELS))
def test_training_beats_chance_by_a_wide_margin(fitted, data, name):
    _, _, X_test, y_test = data
    assert fitted[name].score(X_test, y_test) >= 0.8


@pytest.mark.parametrize("name", INVARIANT)
def test_trained_model_is_exactly_rotation_invariant(fitted, data, name):
    X_test = data[2]
    probabilities = [fitted[name].predict_proba(X)[:, 1] for X in _rotations(X_test)]
    for p in probabilities[1:]:
        assert np.max(np.abs(p - probabilities[0])) <= 1e-6
        assert np.array_equal(p, probabilities[0])  # in fact bit for bit
    assert rotation_spread(fitted[name], X_test) == (0.0, 0.0)


def test_plain_model_is_not_invariant(fitted, data):
    assert rotation_spread(fitted["plain"], data[2]).max > 1e-4


@pytest.mark.parametrize(
    "invariance, group", [("input", "C4"), ("group", "C4"), ("input", "D4"), ("group", "D4")]
)
def test_untrained_model_is_exactly_invariant(data, invariance, group):
    X, y, X_test, _ = data
    untrained = {**SMALL, "max_epochs": 0}
    clf = RotInvariantLensClassifier(invariance=invariance, group=group, **untrained)
    clf.fit(X[:40], y[:40])
    reference = clf.predict_proba(X_test)
    transformed = _rotations(X_test)
    if group == "D4":
        transformed += [np.flip(X, axis=-1).copy() for X in transformed]
    for X in transformed:
        assert np.max(np.abs(clf.predict_proba(X) - reference)) <= 1e-6


def test_pickle_round_trip_gives_identical_probabilities(fitted, data):
    X_test = data[2]
    for clf in fitted.values():
        restored = pickle.loads(pickle.dumps(clf))
        assert np.array_equal(restored.predict_proba(X_test), clf.predict_proba(X_test))
        assert restored.get_params()["device"] == "auto"


def test_prediction_api(fitted, data):
    clf, X_test = fitted["group"], data[2]
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    logits = clf.decision_function(X_test)
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), proba[:, 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X_test), (proba[:, 1] > 0.5).astype(int))
    np.testing.assert_array_equal(clf.classes_, [0, 1])


def test_threshold_moves_the_decision(fitted, data):
    clf = clone(fitted["plain"])
    X, y, X_test, _ = data
    clf.set_params(max_epochs=1).fit(X, y)
    assert clf.set_params(threshold=0.0).predict(X_test).all()
    assert not clf.set_params(threshold=1.0).predict(X_test).any()


def test_one_image_gives_one_probability_and_label(fitted, data):
    clf, X_test = fitted["input"], data[2]
    proba = clf.predict_proba(X_test[3])
    assert proba.shape == (2,)
    np.testing.assert_array_equal(proba, clf.predict_proba(X_test[3:4])[0])
    assert np.ndim(clf.predict(X_test[3])) == 0
    assert np.ndim(clf.decision_function(X_test[3])) == 0


def test_one_band_images_and_a_single_2d_image(data):
    X, y, X_test, _ = data
    clf = MODELS["group"](max_epochs=1).fit(X[:, 1], y)  # (n, H, W): one band
    assert clf.input_shape_ == (1, 20, 20)
    assert clf.predict_proba(X_test[0, 1]).shape == (2,)
    assert clf.predict_proba(X_test[:5, 1]).shape == (5, 2)


def test_string_labels_are_kept(data):
    X, y, X_test, _ = data
    labels = np.where(y == 1, "lens", "non-lens")
    clf = MODELS["plain"](max_epochs=2).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["lens", "non-lens"])
    assert set(clf.predict(X_test)) <= {"lens", "non-lens"}
    assert 0 <= clf.score(X_test, np.where(data[3] == 1, "lens", "non-lens")) <= 1


def test_random_state_makes_training_reproducible(data):
    X, y, X_test, _ = data
    first = MODELS["input"](max_epochs=2).fit(X, y).predict_proba(X_test)
    second = MODELS["input"](max_epochs=2).fit(X, y).predict_proba(X_test)
    np.testing.assert_array_equal(first, second)


def test_defaults_are_the_papers_and_params_round_trip():
    clf = LensClassifier()
    params = clf.get_params()
    assert params["lr"] == 6e-4 and params["weight_decay"] == 1e-4
    assert params["batch_size"] == 128 and params["max_epochs"] == 35
    assert params["dropout"] == 0.5 and params["threshold"] == 0.5
    assert params["optimizer"] is torch.optim.Adam and params["device"] == "auto"
    rot = clone(RotInvariantLensClassifier(invariance="group", group="D4", patience=3))
    assert rot.get_params()["invariance"] == "group" and rot.get_params()["group"] == "D4"
    assert rot.get_params()["patience"] == 3


def test_early_stopping_and_weight_decay_reach_skorch(data):
    X, y, _, _ = data
    clf = MODELS["plain"](patience=1, max_epochs=30, lr=0.5).fit(X, y)  # diverges, stops early
    assert len(clf.history) < 30
    assert clf.optimizer_.param_groups[0]["weight_decay"] == 1e-4


def test_cross_val_score_and_grid_search(data):
    X, y, _, _ = data
    scores = cross_val_score(MODELS["input"](max_epochs=3), X, y, cv=2)
    assert scores.shape == (2,) and np.all((0 <= scores) & (scores <= 1))
    search = GridSearchCV(MODELS["plain"](max_epochs=1), {"lr": [1e-3, 3e-3]}, cv=2).fit(X, y)
    assert search.best_params_["lr"] in (1e-3, 3e-3)


def test_pipeline(data):
    X, y, X_test, y_test = data
    pipe = make_pipeline(FunctionTransformer(np.arcsinh), MODELS["group"]())
    pipe.fit(X, y)
    assert pipe.score(X_test, y_test) >= 0.8
    assert rotation_spread(pipe, X_test).max == 0.0


def test_pipeline_with_the_fits_transformers(data):
    from sklens.preprocessing import CenterCrop, ImageNormalizer

    X, y, X_test, y_test = data
    pipe = make_pipeline(CenterCrop(16), ImageNormalizer(method="asinh"), MODELS["group"]())
    pipe.fit(X, y)
    assert pipe[-1].input_shape_[1:] == (16, 16)
    assert pipe.score(X_test, y_test) >= 0.8
    assert rotation_spread(pipe, X_test).max == 0.0


@pytest.mark.parametrize(
    "X_change, y_change, match",
    [
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.nan, X), None, "NaN"),
        (None, lambda y: np.arange(len(y)) % 3, "exactly two classes"),
        (None, lambda y: np.zeros_like(y), "exactly two classes"),
        (None, lambda y: y[:-1], "one label per image"),
        (lambda X: X[..., :16], None, "square"),
        (lambda X: X[..., :18, :18], None, "divisible by 4"),
    ],
)
def test_bad_training_input_is_refused_before_training(data, X_change, y_change, match):
    X, y, _, _ = data
    X = X_change(X) if X_change else X
    y = y_change(y) if y_change else y
    clf = MODELS["group"]()
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "module_") or clf.module_ is None


@pytest.mark.parametrize(
    ("cls", "name", "value"),
    [
        (RotInvariantLensClassifier, "invariance", "kernel"),
        (RotInvariantLensClassifier, "group", "C8"),
        (LensClassifier, "dropout", 1.0),
        (LensClassifier, "lr", -1e-3),
        (LensClassifier, "batch_size", 0),
        (LensClassifier, "max_epochs", -1),
        (LensClassifier, "patience", -2),
        (LensClassifier, "threshold", 1.5),
        (LensClassifier, "weight_decay", -1.0),
    ],
)
def test_bad_parameters_are_refused_by_name_before_any_work(cls, name, value, data):
    X, y, _, _ = data
    model = cls(**{name: value})
    with pytest.raises(ValueError, match=f"'{name}' parameter of {cls.__name__} must be"):
        model.fit(X, y)
    assert not model.initialized_


def test_bad_prediction_input_is_refused(fitted, data):
    clf, X_test = fitted["plain"], data[2]
    with pytest.raises(ValueError, match="fitted on"):
        clf.predict_proba(X_test[:, :2])
    with pytest.raises(ValueError, match="fitted on"):
        clf.predict(X_test[..., :16, :16])
    bad = X_test.copy()
    bad[2, 0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.predict_proba(bad)


def test_predicting_before_fit_is_refused(data):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LensClassifier().predict_proba(data[2])


def test_example_runs_in_fast_mode(capsys, tmp_path, load_script):
    example = load_script("examples/lens_finding.py")
    rows = example.main(["--fast", "--plot", str(tmp_path / "roc.png")])
    assert (tmp_path / "roc.png").stat().st_size > 0
    assert set(rows) == {"LensClassifier", "RotInvariant input C4", "RotInvariant group C4"}
    assert rows["RotInvariant input C4"]["spread_max"] == 0.0
    assert rows["RotInvariant group C4"]["spread_max"] == 0.0
    assert "| model | parameters |" in capsys.readouterr().out


def test_renamed_parameters_and_attributes_keep_working_with_a_future_warning():
    X = np.random.default_rng(0).normal(size=(16, 1, 12, 12)).astype(np.float32)
    old = LensClassifier(n_filters=(2, 2, 2), n_hidden=(6, 5), max_epochs=1, train_split=None)
    with pytest.warns(FutureWarning, match="'n_hidden' was renamed 'hidden'"):
        old.fit(X, np.arange(16) % 2)
    assert old.module_.fcs[1].out_features == 5
    with pytest.warns(FutureWarning, match="input_shape_"):
        assert old.n_channels_in_ == 1
    with pytest.warns(FutureWarning, match="input_shape_"):
        assert old.image_size_ == (12, 12)
    with pytest.warns(FutureWarning, match="'n_channels' was renamed 'in_channels'"):
        net = LensFinderCNN(n_channels=2, image_size=12, n_filters=(2, 2, 2), hidden=(4, 4))
    assert net.convs[0].in_channels == 2
