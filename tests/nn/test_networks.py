import pytest
import torch

from sklens.nn.layers import FeatureNorm
from sklens.nn.networks import MLPRegressorNet, PaperCNN, default_network
from sklens.nn.tap import tap_features


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


def test_the_cnn_computes_in_channels_last_memory_by_default_and_as_before_without_it():
    torch.manual_seed(0)
    fast = PaperCNN(image_size=(16, 16), feature_norm=True)
    torch.manual_seed(0)
    plain = PaperCNN(image_size=(16, 16), feature_norm=True, channels_last=False)
    conv = fast.features[1][0].weight  # 16 x 8 x 3 x 3: the layout is not ambiguous
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert plain.features[1][0].weight.is_contiguous()
    x = torch.randn(6, 1, 16, 16)
    with tap_features(fast, "features") as tapped:
        out = fast(x)
    assert fast.features[2](fast.features[1](fast.features[0](x))).is_contiguous(
        memory_format=torch.channels_last
    )
    assert tapped[0].is_contiguous()  # the flattened features are rows in the default order
    torch.testing.assert_close(out, plain(x), atol=1e-5, rtol=1e-5)  # the same values, up to rounding
    out.sum().backward()
    plain(x).sum().backward()
    for a, b in zip(fast.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-4, rtol=1e-4)
    # The layout survives a state dict round trip into a new network.
    fresh = PaperCNN(image_size=(16, 16), feature_norm=True)
    fresh.load_state_dict(plain.state_dict())
    assert fresh.features[1][0].weight.is_contiguous(memory_format=torch.channels_last)
