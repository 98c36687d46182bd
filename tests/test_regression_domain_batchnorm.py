"""domain_batchnorm and predict_domain on the regressors (the layer itself: tests/nn/test_domain_norm.py)."""

import copy
import pickle

import numpy as np
import pytest
import torch
from conftest import FAST, PAPER_LIKE
from sklearn.base import clone
from torch import nn

from sklens import CNNRegressor, CORALRegressor, DANNRegressor, MMDRegressor
from sklens.exceptions import NoTargetDataWarning
from sklens.nn.domain_norm import DOMAINS, DomainBatchNorm


@pytest.fixture(scope="module")
def toy(toy):
    """The shared toy data with the target shifted as well as wider: its BatchNorm statistics differ."""
    X, y, X_tgt = toy
    return X, y, X_tgt + np.float32(1.0)


def domain_layers(model) -> list[DomainBatchNorm]:
    return [m for m in model.module_.modules() if isinstance(m, DomainBatchNorm)]


def test_adabn_baseline_trains_the_source_rows_as_without_it_and_learns_the_target_statistics(toy):
    """No adaptation loss: the target batch only feeds the target statistics, so with the source
    statistics the model predicts as the plain CNN, and with the target's it predicts differently."""
    X, y, X_tgt = toy
    fast = {**FAST, "max_epochs": 1}
    plain = CNNRegressor(**fast).fit(X, y, X_tgt=X_tgt)
    adabn = CNNRegressor(**fast, domain_batchnorm=True, predict_domain="source").fit(X, y, X_tgt=X_tgt)
    np.testing.assert_allclose(adabn.predict(X_tgt), plain.predict(X_tgt), atol=1e-6)
    for layer in domain_layers(adabn):  # a target batch at every step
        assert int(layer.target.num_batches_tracked) == int(layer.source.num_batches_tracked)
    first = domain_layers(adabn)[0]  # the input shift reaches the first layer's statistics
    assert not torch.allclose(first.target.running_mean, first.source.running_mean, atol=0.05)
    on_target = adabn.set_params(predict_domain="target").predict(X_tgt)
    assert np.abs(on_target - plain.predict(X_tgt)).max() > 1e-3


def test_predict_domain_uses_that_domains_running_statistics(toy):
    X, y, X_tgt = toy
    # The point head on y as given: the network's output is the prediction.
    model = MMDRegressor(**FAST, **{**PAPER_LIKE, "domain_batchnorm": True}).fit(X, y, X_tgt=X_tgt)
    # By hand: each DomainBatchNorm replaced by one plain BatchNorm holding the target's statistics.
    manual = copy.deepcopy(model.module_).eval()
    for parent in list(manual.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, DomainBatchNorm):
                plain = copy.deepcopy(child.source)
                plain.running_mean.copy_(child.target.running_mean)
                plain.running_var.copy_(child.target.running_var)
                setattr(parent, name, plain)
    with torch.no_grad():
        expected = manual(torch.as_tensor(X_tgt)).numpy()[:, 0]
    np.testing.assert_allclose(model.predict(X_tgt), expected, rtol=1e-5, atol=1e-6)
    source = model.set_params(predict_domain="source")
    assert np.abs(source.predict(X_tgt) - expected).max() > 1e-3
    assert not np.allclose(
        source.transform_features(X_tgt), model.set_params(predict_domain="target").transform_features(X_tgt)
    )


def test_the_validation_loss_uses_the_statistics_of_predict_domain(toy):
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    X, y, X_tgt = toy
    split = predefined_split(Dataset(X[:16], y[:16, None].astype(np.float32)))  # y as the net sees it
    model = MMDRegressor(  # the point head: the valid loss is the squared error
        **{**FAST, "max_epochs": 1, **PAPER_LIKE, "domain_batchnorm": True},
        predict_domain="source",
        train_split=split,
    ).fit(X[16:], y[16:], X_tgt=X_tgt)
    mse = {d: np.mean((model.set_params(predict_domain=d).predict(X[:16]) - y[:16]) ** 2) for d in DOMAINS}
    assert model.history[-1, "valid_loss"] == pytest.approx(mse["source"], rel=1e-5)
    assert mse["target"] != pytest.approx(mse["source"], rel=1e-3)


@pytest.mark.parametrize(
    ("cls", "domain_batchnorm"),
    [(MMDRegressor, True), (DANNRegressor, True), (CORALRegressor, True), (DANNRegressor, "affine")],
)
def test_composes_with_every_adaptation_loss(cls, domain_batchnorm, toy):
    X, y, X_tgt = toy
    model = cls(**{**FAST, "max_epochs": 1}, domain_batchnorm=domain_batchnorm).fit(X, y, X_tgt=X_tgt)
    assert np.isfinite(model.history[-1, "adaptation_loss"]) and np.isfinite(model.score(X, y))
    first = domain_layers(model)[0]
    assert int(first.target.num_batches_tracked) == int(first.source.num_batches_tracked)
    if domain_batchnorm == "affine":  # the target's own scale, trained by the domain loss alone
        assert first.target.weight is not first.source.weight
        assert not torch.equal(first.target.weight.detach(), torch.ones(8))


@pytest.mark.parametrize("cls", [MMDRegressor, DANNRegressor, CORALRegressor])
def test_by_default_an_adaptive_regressor_splits_every_batchnorm_by_domain_on_images(cls, toy):
    X, y, X_tgt = toy
    fast = {**FAST, "max_epochs": 1, "calibration_fraction": 0}
    model = cls(**fast).fit(X, y, X_tgt=X_tgt)
    assert model.settings_["domain_batchnorm"] is True
    layers = domain_layers(model)
    assert len(layers) == 3  # each of the network's three BatchNorm2d
    assert all(layer.share_affine and layer.target.weight is None for layer in layers)  # AdaBN's split
    for layer in layers:  # a target batch at every step
        assert int(layer.target.num_batches_tracked) == int(layer.source.num_batches_tracked)
    first = layers[0]  # the shifted target reaches the first layer's statistics
    assert not torch.allclose(first.target.running_mean, first.source.running_mean, atol=0.05)
    one = cls(**fast, domain_batchnorm=False).fit(X, y, X_tgt=X_tgt)
    assert not domain_layers(one) and sum(isinstance(m, nn.BatchNorm2d) for m in one.module_.modules()) == 3


def test_by_default_the_baseline_and_tables_keep_one_batchnorm_over_both_domains(toy):
    X, y, X_tgt = toy
    fast = {**FAST, "max_epochs": 1, "calibration_fraction": 0}
    baseline = CNNRegressor(**fast).fit(X, y, X_tgt=X_tgt)
    assert baseline.settings_["domain_batchnorm"] is False and not domain_layers(baseline)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in baseline.module_.modules()) == 3
    table = MMDRegressor(**fast).fit(X.reshape(len(X), -1), y, X_tgt=X_tgt.reshape(len(X_tgt), -1))
    assert table.settings_["domain_batchnorm"] is False and not domain_layers(table)


def test_a_network_without_batchnorm_is_refused_before_training():
    X = np.random.default_rng(0).normal(size=(32, 5)).astype(np.float32)
    model = MMDRegressor(max_epochs=1, domain_batchnorm=True)
    with pytest.raises(ValueError, match="domain_batchnorm=True on a network without BatchNorm layers: MLP"):
        model.fit(X, X[:, 0], X_tgt=X)
    assert not model.initialized_


def test_no_target_rows_warns_that_the_target_statistics_stay_initial(toy):
    X, y, _ = toy
    with pytest.warns(NoTargetDataWarning, match="target BatchNorm statistics keep their initial values"):
        model = CNNRegressor(**{**FAST, "max_epochs": 1}, domain_batchnorm=True).fit(X, y)
    for layer in domain_layers(model):  # the source's 3 steps, none of the target's
        assert int(layer.source.num_batches_tracked) - int(layer.target.num_batches_tracked) == 3


def test_pickle_clone_and_saved_parameters_round_trip(toy, tmp_path):
    X, y, X_tgt = toy
    model = DANNRegressor(**{**FAST, "max_epochs": 1}, domain_batchnorm=True).fit(X, y, X_tgt=X_tgt)
    expected = model.predict(X_tgt)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X_tgt), expected)
    assert clone(model).get_params()["domain_batchnorm"] is True
    model.save_params(f_params=tmp_path / "params.pt")
    fresh = DANNRegressor(**{**FAST, "max_epochs": 0}, domain_batchnorm=True).fit(X, y, X_tgt=X_tgt)
    assert not np.array_equal(fresh.predict(X_tgt), expected)
    fresh.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_array_equal(fresh.predict(X_tgt), expected)


def test_each_ensemble_member_equals_a_separate_fit_with_its_seed(toy):
    X, y, X_tgt = toy
    common = dict(max_epochs=1, batch_size=16, lr=1e-3, domain_batchnorm=True)
    ensemble = MMDRegressor(n_members=2, random_state=5, **common).fit(X[:32], y[:32], X_tgt=X_tgt)
    for k in range(2):
        alone = MMDRegressor(random_state=5 + k, **common).fit(X[:32], y[:32], X_tgt=X_tgt)
        member = ensemble.module_.member_state_dict(k)
        for name, value in alone.module_.state_dict().items():
            torch.testing.assert_close(member[name], value, atol=1e-5, rtol=1e-5, msg=name)
        np.testing.assert_allclose(ensemble.predict_members(X_tgt)[k], alone.predict(X_tgt), atol=1e-4)
