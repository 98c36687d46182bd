import pytest
import torch
from torch import nn

from sklens.nn.ensemble import MemberList, StackedNetwork, stack_networks
from sklens.nn.networks import MLPRegressorNet, PaperCNN
from sklens.nn.tap import tap_features


def members(factory, k=3):
    torch.manual_seed(0)
    return [factory() for _ in range(k)]


@pytest.mark.parametrize(
    ("factory", "row"),
    [
        (lambda: PaperCNN(in_channels=2, image_size=(16, 16), n_outputs=2), (2, 16, 16)),
        (lambda: MLPRegressorNet(5, 2), (5,)),
        (lambda: PaperCNN(image_size=(16, 16), feature_norm=True), (1, 16, 16)),
    ],
    ids=["cnn", "mlp", "cnn-feature-norm"],
)
@pytest.mark.parametrize("training", [True, False])
def test_each_member_computes_what_it_computes_alone(factory, row, training):
    nets = members(factory)
    stacked = stack_networks(nets, "features", row_ndim=len(row))
    assert isinstance(stacked, StackedNetwork)
    for net in (*nets, stacked):
        net.train(training)
    x = torch.randn(6, 3, *row)  # a batch of its own for each member
    features, out = stacked.forward_features(x)
    for k, net in enumerate(nets):
        with tap_features(net, "features") as tapped:  # one pass, as the stack made one
            alone = net(x[:, k])
        torch.testing.assert_close(out[:, k], alone, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(features[:, k], tapped[0], atol=1e-5, rtol=1e-5)
        if training:  # BatchNorm's running statistics were updated per member
            for name, value in net.state_dict().items():
                torch.testing.assert_close(stacked.member_state_dict(k)[name], value, atol=1e-6, rtol=1e-5)


def test_an_input_without_member_axis_goes_to_every_member():
    nets = members(lambda: PaperCNN(image_size=(16, 16)))
    stacked = stack_networks(nets, "features", row_ndim=3).eval()
    for net in nets:
        net.eval()
    x = torch.randn(4, 1, 16, 16)
    torch.testing.assert_close(stacked(x), torch.stack([net(x) for net in nets], dim=1), atol=1e-5, rtol=1e-5)


def test_member_state_dict_loads_into_a_single_network():
    nets = members(lambda: PaperCNN(image_size=(16, 16)))
    stacked = stack_networks(nets, "features", row_ndim=3)
    fresh = PaperCNN(image_size=(16, 16))
    fresh.load_state_dict(stacked.member_state_dict(2))
    for name, value in nets[2].state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[name], value)


def test_other_networks_become_a_member_list_with_the_same_interface():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.Tanh())
            self.out = nn.Linear(4, 1)

        def forward(self, x):
            return self.out(self.body(x))

    nets = members(Net)
    stacked = stack_networks(nets, "body", row_ndim=3)
    assert isinstance(stacked, MemberList)
    x = torch.randn(5, 3, 1, 4, 4)
    features, out = stacked.forward_features(x)
    assert features.shape == (5, 3, 4) and out.shape == (5, 3, 1)
    torch.testing.assert_close(out[:, 1], nets[1](x[:, 1]))


def test_a_wrong_member_axis_is_refused():
    stacked = stack_networks(members(lambda: MLPRegressorNet(5)), "features", row_ndim=1)
    with pytest.raises(ValueError, match=r"\(B, 3, \*row\)"):
        stacked(torch.zeros(4, 2, 5))


@pytest.mark.parametrize("channels_last", [True, False])
def test_stacked_members_keep_their_memory_layout(channels_last):
    nets = members(lambda: PaperCNN(image_size=(16, 16), channels_last=channels_last))
    stacked = stack_networks(nets, "features", row_ndim=3)
    weight = stacked.features[1][0].weight  # 3 members x 16 filters of 8 x 3 x 3
    assert weight.is_contiguous(memory_format=torch.channels_last) is channels_last
    assert weight.is_contiguous() is not channels_last
