"""The regressor base class: short batches, non-finite losses, missing target rows, seeding, parameter
validation, and the device every tensor lives on."""

import warnings

import numpy as np
import pytest
import torch
from conftest import PAPER_LIKE, toy_target
from conftest import toy_images as images
from scipy.stats import norm
from sklearn.base import clone
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit
from skorch.exceptions import NotInitializedError

from sklens import (
    CNNRegressor,
    CORALRegressor,
    DANNRegressor,
    DAREGRAMRegressor,
    LensClassifier,
    MMDRegressor,
    RotInvariantLensClassifier,
    RSDRegressor,
)
from sklens._skorch import _cuda_indices
from sklens.exceptions import (
    CalibrationWarning,
    NonFiniteLossError,
    NoTargetDataWarning,
    UnlabelledRowsWarning,
)
from sklens.metrics import interval_coverage
from sklens.nn.domain_norm import DomainBatchNorm
from sklens.nn.layers import FeatureNorm
from sklens.regression import PAPER_SETTINGS

ADAPTIVE = [
    DANNRegressor,
    MMDRegressor,
    CORALRegressor,
    lambda **kw: MMDRegressor(mmd_estimator="unbiased", **kw),
    lambda **kw: MMDRegressor(bandwidth="median", **kw),
    # Batches below the 32 features of 12 x 12 images; 32 + 1 rows still end in a batch of one.
    lambda **kw: RSDRegressor(**{**kw, "batch_size": 16}),
    DAREGRAMRegressor,
]
ADAPTIVE_IDS = ["DANN", "MMD", "CORAL", "MMD-unbiased", "MMD-median", "RSD", "DARE-GRAM"]


@pytest.mark.parametrize("make", ADAPTIVE, ids=ADAPTIVE_IDS)
@pytest.mark.parametrize("remainder", [0, 1, 2])
def test_a_short_last_batch_never_makes_a_loss_nan(make, remainder):
    X, X_tgt = images(32 + remainder), images(40, seed=1, scale=1.5)
    y = X[:, 0, 4:8, 4:8].mean(axis=(1, 2))
    model = make(max_epochs=2, batch_size=32, lr=1e-3, random_state=0).fit(X, y, X_tgt=X_tgt)
    for key in ("train_loss", "task_loss", "adaptation_loss"):
        assert np.isfinite(model.history[:, key]).all(), key
    assert np.isfinite(model.predict(X)).all()
    last_batch = model.history[-1, "batches", -1]
    needs = model.adaptation_loss_.min_rows
    # The term ran on the short batch exactly when it had the rows the loss needs.
    assert ("adaptation_loss" in last_batch) == (remainder == 0 or remainder >= needs)


def test_the_issues_coral_case_of_33_rows_and_batches_of_32_trains_finite():
    X, X_tgt = images(33), images(33, seed=1, scale=1.5)
    y = X.mean(axis=(1, 2, 3))
    model = CORALRegressor(max_epochs=2, lr=1e-3, random_state=0).fit(X, y, X_tgt=X_tgt)
    assert np.isfinite(model.predict(X)).all()
    assert CORALRegressor().make_adaptation_loss(8).min_rows == 2


@pytest.mark.parametrize("cls", [CNNRegressor, MMDRegressor])
def test_a_non_finite_loss_stops_the_fit_naming_epoch_batch_and_term(cls):
    X = images(48)
    y = np.full(48, 1e25)  # its square overflows float32: the task loss is infinite at once
    # The point head trains on y as given (the gaussian head would standardise it to zeros).
    model = cls(max_epochs=2, batch_size=16, random_state=0, **PAPER_LIKE)
    with pytest.raises(NonFiniteLossError, match=r"at epoch 1, batch 1: non-finite loss \(task_loss=inf"):
        model.fit(X, y, X_tgt=images(16, seed=1))


class _FiniteLossNaNGradient(torch.nn.Module):
    """0 in value, NaN in gradient (sqrt at 0 times a zero derivative), as an SVD with repeated singular
    values can be."""

    min_rows = 1

    def forward(self, features_src, features_tgt):
        return (features_src - features_src).sqrt().sum()


class _NaNGradientRegressor(MMDRegressor):
    def make_adaptation_loss(self, n_features):
        return _FiniteLossNaNGradient()


def test_a_non_finite_gradient_with_a_finite_loss_stops_the_fit_before_the_weights_are_spoilt():
    X = images(48)
    model = _NaNGradientRegressor(max_epochs=2, batch_size=16, random_state=0)
    with pytest.raises(
        NonFiniteLossError, match=r"at epoch 1, batch 1: non-finite gradient of features\.0\.0\.weight"
    ):
        model.fit(X, X.mean(axis=(1, 2, 3)), X_tgt=images(16, seed=1))
    assert all(torch.isfinite(p).all() for p in model.module_.parameters())


@pytest.mark.parametrize("cls", [DANNRegressor, MMDRegressor, CORALRegressor])
def test_adaptation_without_target_rows_warns(cls):
    X = images(32)
    y = X.mean(axis=(1, 2, 3))
    with pytest.warns(NoTargetDataWarning, match="no target rows"):
        model = cls(max_epochs=1, random_state=0).fit(X, y)
    assert "adaptation_loss" not in model.history[-1]


def test_no_adaptation_without_target_rows_is_not_a_warning():
    X = images(32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoTargetDataWarning)
        CNNRegressor(max_epochs=1, random_state=0).fit(X, X.mean(axis=(1, 2, 3)))


def test_partial_fit_is_seeded_and_successive_calls_do_not_replay():
    X, X_tgt = images(48), images(48, seed=1, scale=1.5)
    y = X.mean(axis=(1, 2, 3))
    template = MMDRegressor(max_epochs=1, lr=1e-3, random_state=0)
    twins = [clone(template), clone(template)]
    for model in twins:
        model.partial_fit(X, y, X_tgt=X_tgt)
        model.partial_fit(X, y, X_tgt=X_tgt)
    np.testing.assert_array_equal(twins[0].predict(X), twins[1].predict(X))
    # The second call drew its own shuffling: its first batch loss differs from the first call's.
    first, second = (twins[0].history[epoch, "batches", 0, "task_loss"] for epoch in (0, 1))
    assert first != second


def test_partial_fit_from_scratch_equals_fit():
    X, X_tgt = images(48), images(48, seed=1, scale=1.5)
    y = X.mean(axis=(1, 2, 3))
    fitted = DANNRegressor(max_epochs=2, lr=1e-3, random_state=3).fit(X, y, X_tgt=X_tgt)
    partial = DANNRegressor(max_epochs=2, lr=1e-3, random_state=3).partial_fit(X, y, X_tgt=X_tgt)
    np.testing.assert_array_equal(fitted.predict(X), partial.predict(X))


def test_transform_features_leaves_the_training_mode_as_it_was():
    X = images(32)
    model = CNNRegressor(max_epochs=1, random_state=0).fit(X, X.mean(axis=(1, 2, 3)))
    model.module_.train()
    model.transform_features(X)
    assert model.module_.training
    model.module_.eval()
    model.transform_features(X)
    assert not model.module_.training


def test_seeding_forks_only_the_device_in_use():
    assert _cuda_indices("cpu") == [] and _cuda_indices("meta") == []
    assert _cuda_indices("cuda:1") == [1] and _cuda_indices(torch.device("cuda", 2)) == [2]


BAD_PARAMETERS = [
    (DANNRegressor, "lambda_da", -1),
    (DANNRegressor, "gamma", "x"),
    (DANNRegressor, "domain_hidden", 0),
    (DANNRegressor, "schedule", "linear"),
    (DANNRegressor, "domain_lr", 0.0),
    (MMDRegressor, "kernel_num", 0),
    (MMDRegressor, "kernel_mul", 0),
    (MMDRegressor, "mmd_estimator", "median"),
    (MMDRegressor, "bandwidth", "max"),
    (CNNRegressor, "batch_size", 0),
    (CNNRegressor, "max_epochs", -1),
    (CNNRegressor, "lr", 0.0),
    (CNNRegressor, "lr", "fast"),
    (CORALRegressor, "random_state", "seed"),
    (CORALRegressor, "domain_batchnorm", "yes"),
    (MMDRegressor, "predict_domain", "test"),
    (RSDRegressor, "tradeoff_subspace", -1.0),
    (RSDRegressor, "tradeoff_angle", -1.0),
    (RSDRegressor, "tradeoff_bmp", "x"),
    (DAREGRAMRegressor, "tradeoff_angle", -0.1),
    (DAREGRAMRegressor, "tradeoff_scale", -1.0),
    (DAREGRAMRegressor, "threshold", 0.0),
    (DAREGRAMRegressor, "threshold", 1.5),
]


@pytest.mark.parametrize(("cls", "name", "value"), BAD_PARAMETERS)
def test_bad_parameters_are_refused_by_name_before_any_work(cls, name, value):
    model = cls(**{name: value})
    X = images(16)
    with pytest.raises(ValueError, match=f"'{name}' parameter of {cls.__name__} must be"):
        model.fit(X, X.mean(axis=(1, 2, 3)), X_tgt=images(16, seed=1))
    assert not model.initialized_
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        cls(**{name: value}).partial_fit(X, X.mean(axis=(1, 2, 3)))


def test_a_feature_norm_that_is_not_a_boolean_is_refused_before_training():
    model = MMDRegressor(max_epochs=1, module__feature_norm="no")
    X = images(16)
    with pytest.raises(TypeError, match="feature_norm must be True or False"):
        model.fit(X, X.mean(axis=(1, 2, 3)), X_tgt=images(16, seed=1))
    assert not model.initialized_


ESTIMATORS_ON_META = {
    "CNNRegressor": lambda: CNNRegressor(max_epochs=1, device="meta"),
    "DANNRegressor": lambda: DANNRegressor(max_epochs=1, device="meta"),
    "MMDRegressor": lambda: MMDRegressor(max_epochs=1, device="meta"),
    "CORALRegressor": lambda: CORALRegressor(max_epochs=1, device="meta"),
    "RSDRegressor": lambda: RSDRegressor(max_epochs=1, batch_size=16, device="meta"),
    "DAREGRAMRegressor": lambda: DAREGRAMRegressor(max_epochs=1, device="meta"),
    "DANNRegressor-ensemble": lambda: DANNRegressor(max_epochs=1, device="meta", n_members=2),
    "MMDRegressor-domain-batchnorm": lambda: MMDRegressor(max_epochs=1, device="meta", domain_batchnorm=True),
    "CNNRegressor-ensemble-domain-batchnorm": lambda: CNNRegressor(
        max_epochs=1, device="meta", n_members=2, domain_batchnorm="affine"
    ),
    "MMDRegressor-ensemble": lambda: MMDRegressor(max_epochs=1, device="meta", n_members=2),
    "MMDRegressor-gaussian": lambda: MMDRegressor(max_epochs=1, device="meta", head="gaussian"),
    "DANNRegressor-flow": lambda: DANNRegressor(max_epochs=1, device="meta", head="flow"),
    "DANNRegressor-flow-ensemble": lambda: DANNRegressor(
        max_epochs=1, device="meta", head="flow", n_members=2
    ),
    "LensClassifier": lambda: LensClassifier(
        max_epochs=1, device="meta", n_filters=(2, 2, 2), hidden=(4, 4), train_split=None
    ),
    "RotInvariantLensClassifier": lambda: RotInvariantLensClassifier(
        invariance="group",
        max_epochs=1,
        device="meta",
        n_filters=(2, 2, 2),
        hidden=(4, 4),
        train_split=None,
    ),
}


@pytest.mark.parametrize("name", list(ESTIMATORS_ON_META))
def test_every_tensor_lives_on_the_requested_device(name):
    """The CPU's stand-in for a GPU: on torch's 'meta' device, a module left behind or a tensor made on
    the CPU (a probe, a target batch, domain labels) meets a meta tensor and raises a device error.
    Training on 'meta' can only stop where a value is first read on the host (``Tensor.item()``), after
    the forward pass, every loss term and the backward pass have run."""
    model = ESTIMATORS_ON_META[name]()
    rng = np.random.default_rng(0)
    if "Classifier" in name:
        X, y, kwargs = rng.normal(size=(16, 3, 12, 12)).astype(np.float32), np.arange(16) % 2, {}
    else:
        X = images(16)
        y, kwargs = X.mean(axis=(1, 2, 3)), {"X_tgt": images(16, seed=1)}
    with pytest.raises(RuntimeError, match=r"item\(\) cannot be called on meta tensors"):
        model.fit(X, y, **kwargs)
    modules = [
        model.module_,
        model.criterion_,
        *(getattr(model, f"{n}_", None) for n in ("adaptation_loss", "output_head")),
    ]
    tensors = [t for m in modules if m is not None for t in (*m.parameters(), *m.buffers())]
    assert tensors and {t.device.type for t in tensors} == {"meta"}
    if name == "DANNRegressor":  # the domain classifier is part of the adaptation loss
        assert next(model.adaptation_loss_.losses[0].domain_classifier.parameters()).device.type == "meta"
    if name.endswith("ensemble"):  # every member's network and loss
        assert len(model.adaptation_loss_.losses) == 2
    if "flow" in name:  # one zuko flow per member, checked with every module above
        assert len(model.output_head_) == model.n_members


def test_float32_inputs_reach_training_without_a_copy(tmp_path):
    from sklens.domains import split_packed

    X, X_tgt = images(32), images(24, seed=1)
    path = tmp_path / "target.npy"
    np.save(path, X_tgt)
    mapped = np.load(path, mmap_mode="r")  # read-only, as a memory-mapped FITS cube is
    X_src, _, X_tgt_out = split_packed(X, X.mean(axis=(1, 2, 3)), mapped)
    assert np.shares_memory(X_src, X) and np.shares_memory(X_tgt_out, mapped)
    training_input = _TrainingInput()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's warning about read-only memory included
        # calibration_fraction=0: a tenth of 32 rows is too few to calibrate on, which would warn
        model = MMDRegressor(max_epochs=1, random_state=0, calibration_fraction=0, callbacks=[training_input])
        model.fit(X, X.mean(axis=(1, 2, 3)), X_tgt=mapped)
    assert model.n_target_rows_ == 24
    assert np.shares_memory(training_input.X.numpy(), X)


class _TrainingInput(Callback):
    """Keeps the source rows skorch's training loop receives."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.X = X


@pytest.mark.parametrize("batch_size", [32, -1])
def test_rsd_refuses_batches_as_wide_as_the_features_before_training(batch_size):
    """12 x 12 images give 32 features: 32 rows span the whole feature space, where RSD is zero."""
    model = RSDRegressor(batch_size=batch_size, max_epochs=1)
    X = images(40)
    with pytest.raises(
        ValueError, match=rf"batch_size must be below the feature width \(32\); got batch_size={batch_size}"
    ):
        model.fit(X, X.mean(axis=(1, 2, 3)), X_tgt=images(40, seed=1))
    assert not model.initialized_


def test_a_fresh_regressor_says_how_to_restore_and_the_round_trip_it_names_works(tmp_path):
    """skorch's way, initialize() then load_params, needs the data's shape and the scaling of y: a
    fresh regressor says so and names the way that works, and that way gives the same predictions."""
    X, X_tgt = images(300), images(40, seed=1)
    y = np.stack([X.mean(axis=(1, 2, 3)), 10 * X[:, 0, 4:8, 4:8].std(axis=(1, 2))], axis=1)
    settings = dict(head="flow", flow_context=8, flow_transforms=1, flow_hidden=16, max_epochs=2, lr=1e-3)
    model = DANNRegressor(random_state=0, domain_batchnorm=True, **settings).fit(X, y, X_tgt=X_tgt)
    assert (model.spread_scale_ != 1).all()  # calibrated on its held-out 30 rows: saved with the heads
    files = {"f_params": tmp_path / "net.pt", "f_output_head": tmp_path / "head.pt"}
    model.save_params(**files)
    fresh = DANNRegressor(domain_batchnorm=True, **settings)
    with pytest.raises(NotInitializedError, match=r"fit\(X, y, X_tgt=X_tgt, epochs=0\)"):
        fresh.initialize()
    fresh.fit(X, y, X_tgt=X_tgt, epochs=0)
    assert len(fresh.history) == 0  # built, not trained
    fresh.load_params(**files)
    np.testing.assert_array_equal(fresh.predict_members(X_tgt), model.predict_members(X_tgt))
    np.testing.assert_array_equal(fresh.spread_scale_, model.spread_scale_)
    np.testing.assert_array_equal(
        fresh.predict(X_tgt, return_std=True)[1], model.predict(X_tgt, return_std=True)[1]
    )


@pytest.mark.parametrize("head", ["point", "gaussian", "flow"])
def test_compile_trains_and_predicts_with_every_head(head):
    """skorch's compile=True compiles the network; the heads and the adaptation loss stay eager. The
    'eager' backend runs torch.compile's tracing without generating code, so the test stays fast."""
    X, X_tgt = images(32), images(32, seed=1)
    y = X.mean(axis=(1, 2, 3))
    settings = dict(head=head, flow_context=8, flow_transforms=1, flow_hidden=16, max_epochs=1, lr=1e-3)
    settings.update(domain_batchnorm=True, random_state=0)
    compiled = DANNRegressor(compile=True, compile__backend="eager", **settings).fit(X, y, X_tgt=X_tgt)
    eager = DANNRegressor(**settings).fit(X, y, X_tgt=X_tgt)
    assert type(compiled.module_).__name__ == "OptimizedModule"
    np.testing.assert_allclose(compiled.predict(X_tgt), eager.predict(X_tgt), rtol=1e-4, atol=1e-5)


def test_a_nan_label_beside_a_separate_target_set_warns_with_the_counts():
    X, X_tgt = images(32), images(24, seed=1)
    y = X.mean(axis=(1, 2, 3))
    y[5] = np.nan
    with pytest.warns(UnlabelledRowsWarning, match="1 rows of X have a y that is NaN .* 24 rows of X_tgt"):
        model = MMDRegressor(max_epochs=1, random_state=0).fit(X, y, X_tgt=X_tgt)
    assert model.n_target_rows_ == 25
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnlabelledRowsWarning)  # the packed form alone: no warning
        MMDRegressor(max_epochs=1, random_state=0).fit(np.concatenate([X, X_tgt]), np.r_[y, [np.nan] * 24])


def test_an_ensemble_validates_on_the_split_with_the_members_mean_loss():
    """With ``train_split``, each member trains on the training part and the history's valid_loss is
    the members' mean task loss on the held-out part."""
    X, X_tgt = images(48), images(32, seed=1)
    y = X[:, 0, 4:8, 4:8].mean(axis=(1, 2))
    split = ValidSplit(0.25, random_state=0)
    model = MMDRegressor(n_members=2, train_split=split, max_epochs=2, lr=1e-3, random_state=0, **PAPER_LIKE)
    model.fit(X, y, X_tgt=X_tgt)  # the point head: the valid loss is the members' squared error
    _, held_out = split(model.get_dataset(X, y[:, None]))
    rows = np.asarray(held_out.indices)
    errors = ((model.predict_members(X[rows]) - y[rows]) ** 2).mean(axis=1)
    assert model.history[-1, "valid_loss"] == pytest.approx(errors.mean(), rel=1e-5)


def test_rsd_reads_its_former_tradeoff_angle_as_tradeoff_subspace_with_a_warning():
    X, X_tgt = images(32), images(32, seed=1)
    y = X.mean(axis=(1, 2, 3))
    settings = dict(max_epochs=1, batch_size=16, lr=1e-3, random_state=0)
    new = RSDRegressor(tradeoff_subspace=3.0, **settings).fit(X, y, X_tgt=X_tgt)
    with pytest.warns(FutureWarning, match="'tradeoff_angle' was renamed 'tradeoff_subspace' in sklens 1.0"):
        old = RSDRegressor(tradeoff_angle=3.0, **settings).fit(X, y, X_tgt=X_tgt)
    assert old.adaptation_loss_.losses[0].tradeoff_subspace == 3.0
    np.testing.assert_array_equal(old.predict(X), new.predict(X))


def test_auto_settings_follow_the_input_and_the_class():
    """Images: the measured defaults (domain BatchNorm for the adaptive regressors only, the gaussian
    head, feature norm, lr 3e-4 but DANN's 1e-3 and MMD's 1e-3 annealed along a cosine); tables: the
    point head at a constant lr 3e-3 on the plain MLP."""
    X, X_tgt = images(64), images(64, seed=1)
    y = toy_target(X)
    settings = dict(max_epochs=1, random_state=0, calibration_fraction=0)
    dann = DANNRegressor(**settings).fit(X, y, X_tgt=X_tgt)
    assert dann.settings_ == {
        "lr": 1e-3,
        "lr_schedule": "constant",
        "head": "gaussian",
        "domain_batchnorm": True,
        "feature_norm": True,
    }
    assert dann.optimizer_.param_groups[0]["lr"] == 1e-3 and "event_lr" not in dann.history[-1]
    mmd = MMDRegressor(**{**settings, "max_epochs": 4}).fit(X, y, X_tgt=X_tgt)
    assert (mmd.settings_["lr"], mmd.settings_["lr_schedule"]) == (1e-3, "cosine")
    # each epoch's rate recorded: 1e-3 * (1 + cos(pi * e / 4)) / 2
    np.testing.assert_allclose(mmd.history[:, "event_lr"], 1e-3 * (1 + np.cos(np.pi * np.arange(4) / 4)) / 2)
    assert any(isinstance(m, FeatureNorm) for m in dann.module_.modules())
    assert any(isinstance(m, DomainBatchNorm) for m in dann.module_.modules())
    assert type(dann.output_head_[0]).__name__ == "GaussianHead"
    baseline = CNNRegressor(**settings).fit(X, y, X_tgt=X_tgt)
    assert baseline.settings_["domain_batchnorm"] is False
    assert not any(isinstance(m, DomainBatchNorm) for m in baseline.module_.modules())
    table = DANNRegressor(**settings).fit(X.reshape(64, -1)[:, :8], y, X_tgt=X_tgt.reshape(64, -1)[:, :8])
    assert table.settings_ == {
        "lr": 3e-3,
        "lr_schedule": "constant",
        "head": "point",
        "domain_batchnorm": False,
        "feature_norm": False,
    }
    assert MMDRegressor(**settings).fit(X.reshape(64, -1)[:, :8], y).settings_["lr_schedule"] == "constant"
    given = DANNRegressor(head="flow", lr=1e-3, module__feature_norm=False, **settings).fit(X, y, X_tgt=X_tgt)
    assert (given.settings_["head"], given.settings_["lr"]) == ("flow", 1e-3)
    assert not any(isinstance(m, FeatureNorm) for m in given.module_.modules())


def test_a_long_mmd_fit_on_images_gets_a_constant_slow_rate():
    """MMD's image rate depends on the fit's length: the cosine from 1e-3 up to ``long_fit_steps``
    optimisation steps (ceil(rows / batch_size) x max_epochs), a constant 6e-5 beyond; other
    classes and tables do not look at the length."""
    image = (1, 40, 40)
    assert MMDRegressor.long_fit_steps == 5_000
    short = MMDRegressor().auto_settings_for(image, 5_000)  # 157 batches x 30 epochs = 4,710 steps
    long = MMDRegressor().auto_settings_for(image, 5_400)  # 169 x 30 = 5,070
    assert (short["lr"], short["lr_schedule"]) == (1e-3, "cosine")
    assert (long["lr"], long["lr_schedule"]) == (6e-5, "constant")
    assert {k: v for k, v in long.items() if k not in ("lr", "lr_schedule")} == {
        k: v for k, v in short.items() if k not in ("lr", "lr_schedule")
    }
    assert MMDRegressor(max_epochs=15).auto_settings_for(image, 5_400)["lr"] == 1e-3  # 2,535 steps
    assert MMDRegressor(batch_size=-1).auto_settings_for(image, 10**6)["lr"] == 1e-3  # 30 steps
    assert MMDRegressor().auto_settings_for((8,), 10**6)["lr"] == 3e-3  # tables: the constant 3e-3
    assert DANNRegressor().auto_settings_for(image, 10**6)["lr"] == 1e-3

    class QuicklyLong(MMDRegressor):  # the same rule, reached within a test's few steps
        long_fit_steps = 3

    X, X_tgt = images(64), images(64, seed=1)
    settings = dict(max_epochs=2, batch_size=32, random_state=0, calibration_fraction=0)
    fitted = QuicklyLong(**settings).fit(X, toy_target(X), X_tgt=X_tgt)  # 2 x 2 = 4 steps
    assert (fitted.settings_["lr"], fitted.settings_["lr_schedule"]) == (6e-5, "constant")
    assert fitted.optimizer_.param_groups[0]["lr"] == 6e-5 and "event_lr" not in fitted.history[-1]
    assert (
        QuicklyLong(**{**settings, "max_epochs": 1}).fit(X, toy_target(X), X_tgt=X_tgt).settings_["lr"]
        == 1e-3
    )


def test_the_papers_settings_are_one_mapping_away():
    X, X_tgt = images(64), images(64, seed=1)
    model = DANNRegressor(max_epochs=1, random_state=0, **PAPER_SETTINGS["dann"]).fit(
        X, toy_target(X), X_tgt=X_tgt
    )
    assert model.settings_ == {
        "lr": 6e-5,
        "lr_schedule": "constant",
        "head": "point",
        "domain_batchnorm": False,
        "feature_norm": False,
    }
    assert not any(isinstance(m, (FeatureNorm, DomainBatchNorm)) for m in model.module_.modules())
    assert PAPER_SETTINGS["none"]["lr"] == 1e-5 and set(PAPER_SETTINGS) == {"none", "dann", "mmd"}
    assert {name: value for name, value in PAPER_SETTINGS["dann"].items() if name != "lr"} == PAPER_LIKE
    assert PAPER_SETTINGS["mmd"]["lr_schedule"] == "constant"  # not MMD's cosine default


def test_calibration_holds_out_its_share_of_the_source_and_warns_when_too_few_rows_remain():
    X, X_tgt = images(300), images(64, seed=1)
    y = toy_target(X)
    model = MMDRegressor(max_epochs=1, batch_size=32, random_state=0, calibration_fraction=0.2)
    model.fit(X, y, X_tgt=X_tgt)
    assert len(model.history[0, "batches"]) == 8  # 240 training rows in batches of 32
    assert model.spread_scale_.shape == (1,) and model.spread_scale_[0] != 1.0
    with pytest.warns(CalibrationWarning, match=r"holds out 6, fewer than the 20"):
        small = MMDRegressor(max_epochs=1, random_state=0).fit(X[:60], y[:60], X_tgt=X_tgt)
    assert small.spread_scale_[0] == 1.0 and len(small.history[0, "batches"]) == 2  # every row trains
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)  # no hold-out: nothing to warn about
        off = MMDRegressor(max_epochs=1, random_state=0, calibration_fraction=0).fit(
            X[:60], y[:60], X_tgt=X_tgt
        )
        point = MMDRegressor(max_epochs=1, random_state=0, head="point").fit(X[:60], y[:60], X_tgt=X_tgt)
    assert off.spread_scale_[0] == point.spread_scale_[0] == 1.0


def test_the_calibrated_spread_scales_every_form_of_the_predictive_distribution():
    """predict's std, the samples' spread about their mean and the log-likelihood's width all carry the
    factor; the mean does not move."""
    X, X_tgt = images(64), images(64, seed=1)
    y = toy_target(X)
    model = MMDRegressor(max_epochs=1, random_state=0, calibration_fraction=0).fit(X, y, X_tgt=X_tgt)
    mean, std = model.predict(X[:8], return_std=True)
    samples = model.sample_posterior(X[:8], 400, random_state=1)
    log_p = model.log_likelihood(X[:8], y[:8])
    model.spread_scale_ = np.array([2.0])
    mean2, std2 = model.predict(X[:8], return_std=True)
    np.testing.assert_array_equal(mean2, mean)
    np.testing.assert_allclose(std2, 2 * std)
    samples2 = model.sample_posterior(X[:8], 400, random_state=1)
    np.testing.assert_allclose(samples2 - samples2.mean(0), 2 * (samples - samples.mean(0)), rtol=1e-10)
    expected = norm.logpdf(y[:8], mean, 2 * std)  # one gaussian member: the density is exact
    np.testing.assert_allclose(model.log_likelihood(X[:8], y[:8]), expected, rtol=1e-4)
    assert not np.allclose(log_p, expected)


def test_fit_time_calibration_brings_an_over_confident_head_to_nominal_coverage():
    """Tabular rows, a gaussian head trained long on few rows: over-confident on fresh rows (68% intervals
    cover under 0.5); calibrated on its held-out fifth, both levels cover within 0.08 of nominal.
    80 epochs at lr 1e-2 (150 at 3e-3 took twice as long): raw 0.30 / 0.55, calibrated 0.66 / 0.93
    measured."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2600, 6)).astype(np.float32)
    y = X @ rng.normal(size=6) + 0.5 * rng.normal(size=2600)
    train, fresh = slice(0, 600), slice(600, None)
    settings = dict(
        head="gaussian", max_epochs=80, lr=1e-2, batch_size=128, random_state=0, module__hidden=(128, 128)
    )
    raw = CNNRegressor(calibration_fraction=0, **settings).fit(X[train], y[train])
    calibrated = CNNRegressor(calibration_fraction=0.2, **settings).fit(X[train], y[train])
    coverage = {}
    for name, model in (("raw", raw), ("calibrated", calibrated)):
        mean, std = model.predict(X[fresh], return_std=True)
        coverage[name] = np.ravel(interval_coverage(y[fresh], y_mean=mean, y_std=std, levels=(0.68, 0.95)))
    assert coverage["raw"][0] < 0.5
    np.testing.assert_allclose(coverage["calibrated"], [0.68, 0.95], atol=0.08)


class _PlainNet(torch.nn.Module):
    """A user's network without BatchNorm: a feature layer and a linear output of ``n_outputs``."""

    def __init__(self, n_outputs: int = 2) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 16), torch.nn.ReLU())
        self.head = torch.nn.Linear(16, n_outputs)

    def forward(self, x):
        return self.head(self.features(x))


def test_a_users_network_without_batchnorm_takes_the_defaults_and_a_wrong_width_is_named():
    """'auto' domain BatchNorm on a network without BatchNorm is no domain BatchNorm; a network whose
    output the head cannot read is refused naming both widths, before any training."""
    X, X_tgt = images(64), images(64, seed=1)
    y = toy_target(X)
    model = MMDRegressor(_PlainNet, max_epochs=1, random_state=0).fit(X, y, X_tgt=X_tgt)
    assert model.settings_["domain_batchnorm"] is False and model.settings_["feature_norm"] is None
    assert model.predict(X[:3], return_std=True)[1].shape == (3,)  # the gaussian head's two outputs
    narrow = MMDRegressor(_PlainNet, module__n_outputs=1, max_epochs=1, random_state=0)
    with pytest.raises(
        ValueError, match=r"the network outputs 1 values per row, but the gaussian head reads 2"
    ):
        narrow.fit(X, y, X_tgt=X_tgt)
    with pytest.raises(ValueError, match="domain_batchnorm=True on a network without BatchNorm layers"):
        MMDRegressor(_PlainNet, domain_batchnorm=True, max_epochs=1).fit(X, y, X_tgt=X_tgt)
