import pytest
import torch

from sklens.nn.layers import FeatureNorm
from sklens.nn.networks import MLPRegressorNet, PaperCNN, default_network


def test_paper_cnn_matches_table_2():
    net = PaperCNN()
    assert net.features(torch.zeros(1, 1, 40, 40)).shape == (1, 800)
    counts = [sum(p.numel() for p in block.parameters()) for block in net.features[:3]]
    assert counts == [80 + 16, 1168 + 32, 4640 + 64]  # conv + batchnorm, as in Table 2
    assert sum(p.numel() for p in net.head.parameters()) == 102_528 + 129


def test_default_network_picks_cnn_for_images_and_mlp_for_tables():
    assert isinstance(default_network((3, 24, 24)), PaperCNN)
    assert isinstance(default_network((7,)), MLPRegressorNet)
    with pytest.raises(ValueError, match="shape"):
        default_network((2, 3))


def test_too_small_images_are_refused():
    with pytest.raises(ValueError, match="too small"):
        PaperCNN(image_size=(4, 4))


@pytest.mark.parametrize(
    ("make_net", "row"),
    [
        (lambda: PaperCNN(image_size=(16, 16), feature_norm=True), (1, 16, 16)),
        (lambda: MLPRegressorNet(5, feature_norm=True), (5,)),
    ],
    ids=["cnn", "mlp"],
)
def test_feature_norm_ends_the_feature_extractor_and_fixes_the_feature_norm(make_net, row):
    # Seeded: a row whose features barely vary has its norm lowered by FeatureNorm's eps, beyond the
    # tolerance, for about one unseeded MLP draw in forty (the order of the tests decided which).
    torch.manual_seed(0)
    net = make_net()
    assert isinstance(net.features[-1], FeatureNorm)
    x = torch.randn(7, *row)
    x[0] *= 1000.0  # a far brighter image
    features = net.features(x)
    expected = torch.full((7,), features.shape[1] ** 0.5)  # mean 0, variance 1 over the features
    torch.testing.assert_close(features.norm(dim=1), expected, rtol=1e-3, atol=0)


def test_the_paper_network_has_no_feature_norm_by_default():
    assert not any(isinstance(m, FeatureNorm) for m in PaperCNN().modules())


@pytest.mark.parametrize(
    "make", [lambda v: PaperCNN(feature_norm=v), lambda v: MLPRegressorNet(5, feature_norm=v)]
)
def test_feature_norm_that_is_not_a_boolean_is_refused(make):
    with pytest.raises(TypeError, match="feature_norm must be True or False, got 'no'"):
        make("no")  # a truthy string would otherwise switch it on


def test_the_cnn_takes_its_head_layers_as_the_mlp_does_and_warns_for_an_int():
    net = PaperCNN(image_size=(16, 16), hidden=(32, 16))
    widths = [layer.out_features for layer in net.head if isinstance(layer, torch.nn.Linear)]
    assert widths == [32, 16, 1]
    with pytest.warns(FutureWarning, match=r"hidden is a sequence .* Use hidden=\(64,\)"):
        old = PaperCNN(image_size=(16, 16), hidden=64)
    assert [layer.out_features for layer in old.head if isinstance(layer, torch.nn.Linear)] == [64, 1]
