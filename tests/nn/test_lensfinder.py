"""The HOLISMOKES-style network: parameter count, shapes, exact invariance of its variants."""

import pytest
import torch

from sklens.nn.lensfinder import LensFinderCNN, check_image_size, count_parameters

SMALL = {"n_filters": (4, 6, 8), "kernel_sizes": (5, 3, 3), "hidden": (16, 8)}


def test_default_network_has_about_27_million_parameters():
    with torch.device("meta"):  # no memory or time spent on the weights
        net = LensFinderCNN(3, 60)
        group_net = LensFinderCNN(3, 60, invariance="group")
        input_net = LensFinderCNN(3, 60, invariance="input")
    assert count_parameters(net) == 26_918_621
    assert count_parameters(input_net) == 26_918_621
    # group convolutions see n_filters * 4 input maps in the second and third layers
    assert count_parameters(group_net) == 27_440_861


@pytest.mark.parametrize("invariance", [None, "input", "group"])
def test_output_is_one_logit_per_image(invariance):
    net = LensFinderCNN(3, 20, invariance=invariance, **SMALL)
    assert net(torch.zeros(2, 3, 20, 20)).shape == (2, 1)


@pytest.mark.parametrize("invariance, group", [("input", "C4"), ("group", "C4"), ("group", "D4")])
def test_invariant_networks_agree_bit_for_bit_on_rotations(invariance, group):
    torch.manual_seed(0)
    net = LensFinderCNN(3, 20, invariance=invariance, group=group, **SMALL).eval()
    x = torch.randn(6, 3, 20, 20)
    out = net(x)
    for k in range(1, 4):
        assert torch.equal(net(torch.rot90(x, k, dims=(2, 3))), out)
    if group == "D4":
        assert torch.equal(net(torch.flip(x, dims=(3,))), out)


def test_plain_network_is_not_invariant():
    torch.manual_seed(0)
    net = LensFinderCNN(3, 20, **SMALL).eval()
    x = torch.randn(6, 3, 20, 20)
    assert not torch.allclose(net(torch.rot90(x, 1, dims=(2, 3))), net(x))


def test_image_size_checks():
    check_image_size((20, 30), None)
    with pytest.raises(ValueError, match="square"):
        check_image_size((20, 30), "input")
    with pytest.raises(ValueError, match="divisible by 4"):
        check_image_size((30, 30), "group")
    with pytest.raises(ValueError, match="at least 4"):
        check_image_size((3, 3), None)
    with pytest.raises(ValueError, match="invariance"):
        check_image_size((20, 20), "rotate")
