"""Exact equivariance and invariance of the C4/D4 layers (bit for bit, float32 and float64)."""

import pytest
import torch

from sklens.nn.rotation import (
    GroupConv2d,
    LiftingConv2d,
    OrbitMaxLinear,
    RotationalConv2d,
    SquareGroup,
    group_max_pool2d,
    orientation_max,
)


@pytest.fixture(params=["C4", "D4"])
def group(request):
    return SquareGroup(request.param)


def _permuted_action(group, h, features):
    """(h . F)_g = h F_{h^-1 g} on (N, C, |G|, H, W) features."""
    order = [group.compose[group.inverse[h]][g] for g in range(len(group))]
    return group.act(h, features[:, :, order])


def test_group_tables_are_a_group(group):
    n = len(group)
    assert n == (8 if group.name == "D4" else 4)
    probe = torch.randn(5, 5)
    for g in range(n):
        assert group.compose[g][group.inverse[g]] == 0
        for h in range(n):
            composed = group.act(group.compose[g][h], probe)
            assert torch.equal(composed, group.act(g, group.act(h, probe)))


def test_unknown_group_is_refused():
    with pytest.raises(ValueError, match="C4"):
        SquareGroup("C8")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rotational_conv_is_exactly_invariant(group, dtype):
    torch.manual_seed(0)
    layer = RotationalConv2d(3, 5, 5, group=group.name).to(dtype)
    x = torch.randn(4, 3, 12, 12, dtype=dtype)
    out = layer(x)
    for h in range(len(group)):
        assert torch.equal(layer(group.act(h, x)), out)


def test_lifting_and_group_conv_are_exactly_equivariant(group):
    torch.manual_seed(1)
    lift = LiftingConv2d(3, 4, 5, group=group.name)
    conv = GroupConv2d(4, 2, 3, group=group.name)
    x = torch.randn(3, 3, 12, 12)
    lifted, convolved = lift(x), conv(torch.relu(lift(x)))
    for h in range(len(group)):
        x_h = group.act(h, x)
        assert torch.equal(lift(x_h), _permuted_action(group, h, lifted))
        assert torch.equal(conv(torch.relu(lift(x_h))), _permuted_action(group, h, convolved))


def test_lifting_conv_equals_convolution_with_transformed_kernels():
    torch.manual_seed(2)
    group = SquareGroup("D4")
    lift = LiftingConv2d(2, 3, 3, group="D4")
    x = torch.randn(2, 2, 9, 9, dtype=torch.float64)
    lift = lift.double()
    out = lift(x)
    for g in range(len(group)):
        kernel = group.act(g, lift.weight)
        expected = torch.nn.functional.conv2d(x, kernel, lift.bias, padding=1)
        torch.testing.assert_close(out[:, :, g], expected)


def test_pooling_and_orbit_max_linear_give_invariance(group):
    torch.manual_seed(3)
    lift = LiftingConv2d(2, 3, 3, group=group.name)
    head = OrbitMaxLinear((3, 4, 4), 6, group=group.name)

    def net(x):
        return head(orientation_max(group_max_pool2d(torch.relu(lift(x)))))

    x = torch.randn(5, 2, 8, 8)
    out = net(x)
    assert out.shape == (5, 6)
    for h in range(len(group)):
        assert torch.equal(net(group.act(h, x)), out)


def test_non_square_input_and_odd_pooling_are_refused():
    with pytest.raises(ValueError, match="square"):
        RotationalConv2d(1, 2, 3)(torch.zeros(1, 1, 8, 10))
    with pytest.raises(ValueError, match="square"):
        LiftingConv2d(1, 2, 3)(torch.zeros(1, 1, 8, 10))
    with pytest.raises(ValueError, match="divisible"):
        group_max_pool2d(torch.zeros(1, 2, 4, 7, 7))
    with pytest.raises(ValueError, match="odd"):
        RotationalConv2d(1, 2, 4)
    with pytest.raises(ValueError, match="square"):
        OrbitMaxLinear((2, 3, 4), 5)
