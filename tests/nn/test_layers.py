import numpy as np
import pytest
import torch

from sklens.nn.layers import FeatureNorm, GradientReversal, MaxPool2d, reverse_gradient


def test_forward_is_identity():
    x = torch.randn(4, 3)
    assert torch.equal(GradientReversal(0.7)(x), x)


def test_backward_multiplies_gradient_by_minus_coefficient():
    x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(5, 2, dtype=torch.float64)
    (reverse_gradient(x, 0.3) * weights).sum().backward()
    torch.testing.assert_close(x.grad, -0.3 * weights)


def test_gradcheck_against_the_reversed_identity():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    # gradcheck compares the analytical backward with finite differences of the forward (the
    # identity), so it must fail for coefficient != -1 ... and pass for the identity's own gradient.
    assert torch.autograd.gradcheck(lambda t: reverse_gradient(t, -1.0), (x,))
    assert not torch.autograd.gradcheck(lambda t: reverse_gradient(t, 1.0), (x,), raise_exception=False)


def test_coefficient_can_change_between_steps():
    layer = GradientReversal(0.0)
    x = torch.ones(2, requires_grad=True)
    layer(x).sum().backward()
    assert torch.equal(x.grad, torch.zeros(2))
    x.grad = None
    layer.coefficient = 2.0
    layer(x).sum().backward()
    assert torch.equal(x.grad, torch.full((2,), -2.0))


@pytest.mark.parametrize("shape", [(4, 3, 8, 8), (2, 5, 9, 7)])
@pytest.mark.parametrize(("kernel", "stride", "padding", "ceil"), [(2, None, 0, False), (3, 2, 1, True)])
def test_max_pool_equals_torch_bit_for_bit_with_gradients(shape, kernel, stride, padding, ceil):

    x = torch.randn(*shape)
    x = torch.relu(x)  # ties (zeros) route gradients as torch does
    outputs, grads = [], []
    for pool in (
        MaxPool2d(kernel, stride, padding, ceil_mode=ceil),
        torch.nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil),
    ):
        xi = x.clone().requires_grad_(True)
        out = pool(xi)
        (out * torch.arange(out.numel()).reshape(out.shape)).sum().backward()
        outputs.append(out)
        grads.append(xi.grad)
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(grads[0], grads[1])
    assert outputs[0].is_contiguous() and grads[0].is_contiguous()


def test_max_pool_keeps_a_channels_last_input_channels_last():
    x = torch.randn(4, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    out = MaxPool2d(2)(x)
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
    assert torch.equal(out, torch.nn.MaxPool2d(2)(x.contiguous()))


def test_feature_norm_standardises_each_row_as_numpy_does():
    x = torch.randn(5, 2, 12, dtype=torch.float64) * torch.tensor([1.0, 300.0]).view(1, 2, 1)
    expected = (x.numpy() - x.numpy().mean(-1, keepdims=True)) / np.sqrt(
        x.numpy().var(-1, keepdims=True) + 1e-5
    )
    np.testing.assert_allclose(FeatureNorm()(x).numpy(), expected, rtol=1e-10)


def test_feature_norm_makes_a_brighter_copy_indistinguishable():
    x = torch.rand(4, 800) + 0.1
    torch.testing.assert_close(FeatureNorm()(200.0 * x), FeatureNorm()(x), atol=1e-3, rtol=1e-3)  # eps aside
    assert not list(FeatureNorm().parameters())
