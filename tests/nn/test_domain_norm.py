"""sklens.nn.domain_norm: per-domain BatchNorm statistics in one forward pass."""

import copy
import pickle

import pytest
import torch
from torch import nn

from sklens.nn.domain_norm import DomainBatchNorm, domain_rows, use_domain_batchnorm
from sklens.nn.ensemble import stack_networks
from sklens.nn.networks import MLPRegressorNet, PaperCNN


def batch_norm_by_hand(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)


def shifted_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randn(5, 3, 4, 4, generator=g), 3 + 2 * torch.randn(4, 3, 4, 4, generator=g)])


@pytest.mark.parametrize("share_affine", [True, False])
def test_training_normalises_each_domain_by_its_own_batch_statistics(share_affine):
    norm = nn.BatchNorm2d(3)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
        norm.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    layer = DomainBatchNorm(norm, share_affine=share_affine)
    if not share_affine:  # the target's own affine parameters, different from the source's
        with torch.no_grad():
            layer.target.weight.mul_(3.0)
            layer.target.bias.add_(1.0)
    x = shifted_batch()
    with domain_rows(layer, n_source=5):
        out = layer(x)
    tgt_affine = (norm.weight, norm.bias) if share_affine else (layer.target.weight, layer.target.bias)
    torch.testing.assert_close(out[:5], batch_norm_by_hand(x[:5], norm.weight, norm.bias))
    torch.testing.assert_close(out[5:], batch_norm_by_hand(x[5:], *tgt_affine))
    for rows, bn in ((x[:5], layer.source), (x[5:], layer.target)):  # running stats, each its own
        torch.testing.assert_close(bn.running_mean, 0.1 * rows.mean(dim=(0, 2, 3)))
        torch.testing.assert_close(bn.running_var, 0.9 + 0.1 * rows.var(dim=(0, 2, 3), unbiased=True))
        assert int(bn.num_batches_tracked) == 1


def test_shared_affine_has_one_set_of_parameters_that_both_domains_train():
    layer = DomainBatchNorm(nn.BatchNorm2d(3))
    assert [name for name, _ in layer.named_parameters()] == ["source.weight", "source.bias"]
    with domain_rows(layer, n_source=5):
        layer(shifted_batch())[5:].sum().backward()  # a loss on the target rows alone
    assert layer.source.weight.grad.abs().sum() > 0


def test_evaluation_uses_the_running_statistics_of_the_chosen_domain():
    layer = DomainBatchNorm(nn.BatchNorm2d(3))
    with domain_rows(layer, n_source=5):
        layer(shifted_batch())
    layer.eval()
    x = shifted_batch(seed=1)
    outputs = {}
    for domain in ("source", "target"):
        with domain_rows(layer, domain=domain):
            outputs[domain] = layer(x)
        bn = getattr(layer, domain)
        expected = (x - bn.running_mean.view(1, -1, 1, 1)) / torch.sqrt(
            bn.running_var.view(1, -1, 1, 1) + 1e-5
        )
        torch.testing.assert_close(outputs[domain], expected)  # weight 1, bias 0 at the start
    assert not torch.allclose(outputs["source"], outputs["target"])
    assert (layer.n_source, layer.domain) == (None, "target")  # the settings before the block
    torch.testing.assert_close(layer(x), outputs["target"])  # target by default


def test_a_batch_of_source_rows_only_leaves_the_target_statistics_alone():
    layer = DomainBatchNorm(nn.BatchNorm2d(3))
    with domain_rows(layer, n_source=9):
        layer(shifted_batch())
    assert int(layer.source.num_batches_tracked) == 1 and int(layer.target.num_batches_tracked) == 0
    assert torch.equal(layer.target.running_mean, torch.zeros(3))


def test_every_batchnorm_is_replaced_and_the_network_still_computes_the_same_in_one_domain():
    net = PaperCNN(image_size=(16, 16))
    original = copy.deepcopy(net)
    use_domain_batchnorm(net)
    layers = [m for m in net.modules() if isinstance(m, DomainBatchNorm)]
    assert len(layers) == 3 and not any(isinstance(m.source, DomainBatchNorm) for m in layers)
    x = torch.randn(6, 1, 16, 16)
    with domain_rows(net, domain="source"):  # training mode, every row a source row
        torch.testing.assert_close(net(x), original(x))
    again = pickle.loads(pickle.dumps(net))
    again.load_state_dict(net.state_dict())
    with domain_rows(again, domain="source"):
        torch.testing.assert_close(again.eval()(x), original.eval()(x))


def test_a_stacked_ensemble_batchnorm_splits_as_one_layer():
    nets = [PaperCNN(image_size=(16, 16)) for _ in range(2)]
    singles = [use_domain_batchnorm(copy.deepcopy(n)) for n in nets]
    stacked = use_domain_batchnorm(stack_networks(nets, "features", row_ndim=3))
    x = torch.randn(8, 1, 16, 16)
    with domain_rows(stacked, n_source=5):
        out = stacked(x)
    for k, single in enumerate(singles):
        with domain_rows(single, n_source=5):
            torch.testing.assert_close(out[:, k], single(x), atol=1e-5, rtol=1e-5)
        assert stacked.member_state_dict(k).keys() == single.state_dict().keys()


def test_a_network_without_batchnorm_is_refused_by_its_class():
    with pytest.raises(
        ValueError, match="domain_batchnorm=True on a network without BatchNorm layers: MLPRegressorNet"
    ):
        use_domain_batchnorm(MLPRegressorNet(4))


def test_a_bad_domain_is_refused():
    with pytest.raises(ValueError, match="domain must be 'source' or 'target'"):
        with domain_rows(nn.Identity(), domain="test"):
            pass
