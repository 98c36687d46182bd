import pickle

import numpy as np
import pytest
import torch
from conftest import FAST, PAPER_LIKE, REGRESSORS

from sklens import CNNRegressor, DANNRegressor, MMDRegressor
from sklens.callbacks import reversal_coefficient
from sklens.datasets import make_toy_lenses
from sklens.nn.tap import tap_features


def packed(X, y, X_tgt):
    return np.concatenate([X, X_tgt]), np.concatenate([y, np.full(len(X_tgt), np.nan)])


@pytest.mark.parametrize("cls", REGRESSORS)
def test_fit_predict_shapes(cls, toy):
    X, y, X_tgt = toy
    model = cls(**FAST).fit(X, y, X_tgt=X_tgt)
    assert model.predict(X).shape == (len(X),)
    assert model.predict(X[:1]).shape == (1,)
    assert model.predict(X[0]).shape == (1,)  # (1, H, W): one-band images, a batch of one
    assert np.ndim(model.predict(X[0, 0])) == 0  # one 2-D image: its prediction, no batch axis
    assert model.predict(X[0, 0]) == pytest.approx(model.predict(X[:1])[0])
    assert model.predict(X[:, 0]).shape == (len(X),)  # (n, H, W) one-band images
    assert model.n_target_rows_ == len(X_tgt)


@pytest.mark.parametrize("cls", [DANNRegressor, MMDRegressor])
def test_packed_form_equals_x_tgt_form(cls, toy):
    X, y, X_tgt = toy
    a = cls(**FAST).fit(X, y, X_tgt=X_tgt).predict(X)
    b = cls(**FAST).fit(*packed(X, y, X_tgt)).predict(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", REGRESSORS)
def test_random_state_gives_bit_identical_predictions(cls, toy):
    X, y, X_tgt = toy
    runs = [cls(**FAST).fit(X, y, X_tgt=X_tgt).predict(X) for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    other = cls(**{**FAST, "random_state": 1}).fit(X, y, X_tgt=X_tgt).predict(X)
    assert not np.array_equal(runs[0], other)


def test_seeding_leaves_the_callers_torch_generator_alone(toy):
    X, y, X_tgt = toy
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = MMDRegressor(**FAST).fit(X, y, X_tgt=X_tgt)
    model.predict(X)
    model.score(X, y)
    assert torch.equal(torch.rand(3), expected)


def test_multi_output_targets(toy):
    X, y, X_tgt = toy
    Y = np.stack([y, 2 * y], axis=1)
    model = MMDRegressor(**FAST).fit(X, Y, X_tgt=X_tgt)
    assert model.predict(X).shape == (len(X), 2)
    assert np.isfinite(model.score(X, Y))


def test_score_is_pooled_r2_and_ignores_target_rows(toy):
    from sklearn.metrics import r2_score

    X, y, X_tgt = toy
    model = CNNRegressor(**FAST).fit(X, y)
    Xp, yp = packed(X, y, X_tgt)
    assert model.score(Xp, yp) == pytest.approx(r2_score(y, model.predict(X)), rel=1e-6)


def test_history_records_every_loss_term(toy):
    X, y, X_tgt = toy
    mmd = MMDRegressor(**FAST).fit(X, y, X_tgt=X_tgt)
    for key in ("task_loss", "adaptation_loss", "lambda_da", "train_loss"):
        assert len(mmd.history[:, key]) == FAST["max_epochs"]
    assert mmd.history[:, "lambda_da"] == pytest.approx([1.4, 1.4])
    total = np.array(mmd.history[:, "train_loss"])
    parts = np.array(mmd.history[:, "task_loss"]) + 1.4 * np.array(mmd.history[:, "adaptation_loss"])
    np.testing.assert_allclose(total, parts, rtol=1e-5)


def test_dann_reversal_coefficient_follows_the_schedule(toy):
    X, y, X_tgt = toy
    model = DANNRegressor(**{**FAST, "max_epochs": 4}).fit(X, y, X_tgt=X_tgt)
    steps_per_epoch = int(np.ceil(len(X) / FAST["batch_size"]))
    total = 4 * steps_per_epoch
    for epoch in range(4):
        batches = model.history[epoch, "batches"]
        expected = [
            reversal_coefficient((epoch * steps_per_epoch + i) / total) for i in range(steps_per_epoch)
        ]
        assert [b["reversal_coefficient"] for b in batches] == pytest.approx(expected)
    assert model.history[-1, "batches"][-1]["reversal_coefficient"] > 0.99
    assert model.history[:, "lambda_da"] == pytest.approx([1.0] * 4)  # the loss weight, not scheduled


def test_dann_loss_weight_schedule_scales_the_domain_loss_and_keeps_the_reversal_at_one(toy):
    X, y, X_tgt = toy
    model = DANNRegressor(**{**FAST, "max_epochs": 3}, schedule="loss_weight", lambda_da=2.0).fit(
        X, y, X_tgt=X_tgt
    )
    steps_per_epoch = int(np.ceil(len(X) / FAST["batch_size"]))
    batches = [b for epoch in model.history for b in epoch["batches"]]
    expected = [2.0 * reversal_coefficient(i / (3 * steps_per_epoch)) for i in range(3 * steps_per_epoch)]
    assert [b["lambda_da"] for b in batches] == pytest.approx(expected)
    assert [b["reversal_coefficient"] for b in batches] == [1.0] * len(batches)
    assert model.adaptation_loss_.losses[0].reversal.coefficient == 1.0
    for b in batches:  # the step's loss is weighted by the scheduled value
        assert b["train_loss"] == pytest.approx(
            b["task_loss"] + b["lambda_da"] * b["adaptation_loss"], rel=1e-5
        )
    epochs = model.history[:, "lambda_da"]
    assert (
        len(epochs) == 3
        and epochs == sorted(epochs)
        and model.history[:, "reversal_coefficient"] == [1.0] * 3
    )


def test_dann_domain_lr_gives_the_domain_classifier_its_own_rate(toy):
    X, y, X_tgt = toy
    shared = DANNRegressor(**{**FAST, "max_epochs": 1}).fit(X, y, X_tgt=X_tgt)
    assert len(shared.optimizer_.param_groups) == 1
    start = DANNRegressor(**{**FAST, "max_epochs": 0}).fit(X, y, X_tgt=X_tgt)
    slow = DANNRegressor(**{**FAST, "max_epochs": 1}, domain_lr=1e-9).fit(X, y, X_tgt=X_tgt)
    groups = slow.optimizer_.param_groups
    classifier = list(slow.adaptation_loss_.parameters())
    assert [g["lr"] for g in groups] == [1e-3, 1e-9]
    assert len(groups[1]["params"]) == len(classifier) and all(
        p is q for p, q in zip(groups[1]["params"], classifier, strict=True)
    )
    assert len(groups[0]["params"]) == len(list(slow.module_.parameters()))

    def moved(model):
        return max(
            (a - b).abs().max().item()
            for a, b in zip(
                model.adaptation_loss_.parameters(), start.adaptation_loss_.parameters(), strict=True
            )
        )

    assert moved(slow) < 1e-6 < 1e-4 < moved(shared)  # the classifier barely moves at its own tiny rate
    assert not np.allclose(slow.predict(X), start.predict(X))  # the network still trains at lr


def test_dann_domain_loss_moves_and_its_gradient_reaches_the_features(toy):
    X, y, X_tgt = toy
    model = DANNRegressor(**{**FAST, "max_epochs": 3}).fit(X, y, X_tgt=X_tgt)
    domain_losses = [b["adaptation_loss"] for h in model.history for b in h["batches"]]
    assert np.std(domain_losses) > 1e-3
    # One step of the domain loss alone: a non-zero gradient must reach the feature extractor.
    model.module_.train()
    for layer in model.adaptation_loss_.modules():
        if hasattr(layer, "coefficient"):
            layer.coefficient = 1.0
    model.optimizer_.zero_grad()
    with tap_features(model.module_, "features") as tapped:
        model.module_(torch.as_tensor(np.concatenate([X[:16], X_tgt[:16]])))
    model.adaptation_loss_.losses[0](tapped[0][:16], tapped[0][16:]).backward()
    conv = model.module_.features[0][0]
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_adaptation_beats_no_adaptation_on_a_synthetic_shift():
    """Toy lenses whose target domain is blurred and much noisier: with the same seeds, MMD and DANN with
    domain-specific BatchNorm reach a clearly higher target R^2 than training on the source alone, and
    AdaBN (CNNRegressor with domain_batchnorm) a higher one. Every method in the paper's configuration
    (point head, plain network, one BatchNorm unless the row names domain BatchNorm): the adaptation is
    what is compared, not the library's defaults, which lift no adaptation to ~0.4 alone.

    Each claim held for every seed measured (300 images per domain, 10 epochs; target R^2 with seeds 0,
    1, 2; no DA -3.96, -1.43, -2.13): MMD 0.79, 0.70, 0.61; DANN with domain_batchnorm='affine' 0.69,
    0.39, 0.47; AdaBN 0.49, -0.51, -0.70. Not claimed: RSD with ``lambda_da=0.1`` (-0.08, -2.40, 0.26: it
    lost with seed 1), plain DANN (it won with seed 0 only at 400 images) and DARE-GRAM (no setting tried
    beat no adaptation with both seeds)."""
    src = make_toy_lenses(300, random_state=0)
    tgt = make_toy_lenses(300, domain="target", random_state=1)
    test = make_toy_lenses(300, domain="target", random_state=2)
    makers = {
        "none": (CNNRegressor, {}),
        "MMD": (MMDRegressor, {}),
        "DANN+DSBN": (DANNRegressor, {"domain_batchnorm": "affine"}),
        "AdaBN": (CNNRegressor, {"domain_batchnorm": True}),
    }
    scores = {}
    for name, (cls, options) in makers.items():
        model = cls(max_epochs=10, lr=1e-3, random_state=0, **{**PAPER_LIKE, **options})
        model.fit(src.images, src.target, X_tgt=tgt.images)
        scores[name] = model.score(test.images, test.target)
    for name in ("MMD", "DANN+DSBN"):
        assert scores[name] > scores["none"] + 0.5, scores
    assert scores["AdaBN"] > scores["none"], scores


def test_a_default_regressor_trains_its_cnn_in_channels_last_memory_and_a_pickle_keeps_it(toy):
    X, y, X_tgt = toy
    model = DANNRegressor(**FAST).fit(X, y, X_tgt=X_tgt)
    weight = model.module_.features[1][0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    loaded = pickle.loads(pickle.dumps(model))
    assert loaded.module_.features[1][0].weight.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(loaded.predict(X_tgt), model.predict(X_tgt))
    plain = DANNRegressor(**FAST, module__channels_last=False).fit(X, y, X_tgt=X_tgt)
    assert plain.module_.features[1][0].weight.is_contiguous()
