import sys

import numpy as np
import pytest
import torch
from scipy.stats import norm

from sklens.nn.heads import (
    FLOW_MOMENTS_SAMPLES,
    HEADS,
    MIN_VARIANCE,
    BetaNLLLoss,
    FlowHead,
    GaussianHead,
    Head,
    PointHead,
    gaussian_moments,
    make_head,
)


def numpy_beta_nll(output: np.ndarray, y: np.ndarray, beta: float) -> float:
    k = y.shape[1]
    mean, variance = output[:, :k], np.log1p(np.exp(output[:, k:])) + MIN_VARIANCE
    nll = 0.5 * (np.log(2 * np.pi * variance) + (y - mean) ** 2 / variance)
    return float((nll * variance**beta).mean())


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_beta_nll_equals_a_direct_computation(beta):
    rng = np.random.default_rng(0)
    output, y = rng.normal(size=(20, 6)), rng.normal(size=(20, 3))
    loss = BetaNLLLoss(beta)(torch.tensor(output), torch.tensor(y))
    assert float(loss) == pytest.approx(numpy_beta_nll(output, y, beta), rel=1e-10)


def test_beta_zero_is_the_gaussian_nll():
    rng = np.random.default_rng(1)
    output, y = rng.normal(size=(10, 4)), rng.normal(size=(10, 2))
    mean, variance = (part.numpy() for part in gaussian_moments(torch.tensor(output)))
    expected = -norm.logpdf(y, mean, np.sqrt(variance)).mean()
    assert float(BetaNLLLoss(0.0)(torch.tensor(output), torch.tensor(y))) == pytest.approx(expected)


def test_beta_scales_the_gradient_of_the_mean_by_the_stopped_variance():
    rng = np.random.default_rng(2)
    output, y = torch.tensor(rng.normal(size=(8, 2))), torch.tensor(rng.normal(size=(8, 1)))
    grads = {}
    for beta in (0.0, 0.7):
        leaf = output.clone().requires_grad_(True)
        BetaNLLLoss(beta)(leaf, y).backward()
        grads[beta] = leaf.grad[:, 0]
    variance = gaussian_moments(output)[1][:, 0]
    torch.testing.assert_close(grads[0.7], grads[0.0] * variance**0.7)


@pytest.mark.parametrize("beta", [-0.1, 1.5])
def test_beta_outside_the_unit_interval_is_refused(beta):
    with pytest.raises(ValueError, match="beta must be in"):
        BetaNLLLoss(beta)


def test_gaussian_head_density_and_samples_agree_with_its_moments():
    head, output = GaussianHead(), torch.tensor([[1.0, -2.0, 0.5, 2.0]], dtype=torch.float64)
    mean, variance = (part.numpy()[0] for part in gaussian_moments(output))
    y = np.array([[0.3, -1.0]])
    expected = norm.logpdf(y[0], mean, np.sqrt(variance)).sum()
    assert float(head.log_prob(output, torch.tensor(y))) == pytest.approx(expected)
    torch.manual_seed(0)
    samples = head.sample(output, 20000).numpy()[:, 0]
    np.testing.assert_allclose(samples.mean(axis=0), mean, atol=0.05)
    np.testing.assert_allclose(samples.std(axis=0), np.sqrt(variance), rtol=0.03)


def test_flow_density_integrates_to_one():
    torch.manual_seed(0)
    head = FlowHead(n_params=1, n_context=3, transforms=2, hidden=16)
    grid = torch.linspace(-12, 12, 4001)[:, None]
    with torch.no_grad():
        for context in torch.randn(3, 3):
            density = head.log_prob(context.expand(len(grid), 3), grid).exp()
            assert float(torch.trapezoid(density, grid[:, 0])) == pytest.approx(1.0, abs=1e-3)


def test_flow_learns_a_bimodal_posterior():
    """y = x +- 1 (each sign half the time) + 0.1 noise: the flow's samples for a given x are bimodal,
    with mean x and standard deviation ~1."""
    torch.manual_seed(0)
    x = torch.rand(256, 1) * 2 - 1
    y = x + torch.where(torch.rand(256, 1) < 0.5, -1.0, 1.0) + 0.1 * torch.randn(256, 1)
    head = FlowHead(n_params=1, n_context=1, transforms=2, hidden=32)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        head.loss(x, y).backward()
        optimizer.step()
    with torch.no_grad():
        samples = head.sample(torch.tensor([[0.5]]), 4000)[:, 0, 0]
    assert float(samples.mean()) == pytest.approx(0.5, abs=0.15)
    assert float(samples.std()) == pytest.approx(1.0, abs=0.15)
    assert float(((samples - 0.5).abs() < 0.4).float().mean()) < 0.15  # little mass between the modes


def test_a_flow_needs_at_least_one_parameter():
    with pytest.raises(ValueError, match="at least one parameter"):
        FlowHead(n_params=0, n_context=4)


def test_a_flow_without_zuko_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "zuko", None)
    with pytest.raises(ImportError, match=r"head='flow' needs zuko .*pip install \"sklens\[flow\]\""):
        FlowHead(n_params=1, n_context=4)


def test_every_head_is_one_class_in_the_registry_with_the_whole_interface():
    options = dict(criterion=torch.nn.L1Loss(), beta=0.0, flow_context=6, flow_transforms=1, flow_hidden=8)
    output_y = torch.zeros(5, 2)
    for name, cls in HEADS.items():
        head = make_head(name, 2, **options)
        assert type(head) is cls and isinstance(head, Head)
        output = torch.randn(5, cls.output_width(2, **options), generator=torch.Generator().manual_seed(0))
        mean, variance = head.moments(output)
        assert mean.shape == variance.shape == (5, 2) and (variance >= 0).all()
        assert head.loss(output, output_y).dim() == 0
        if head.has_distribution:
            assert head.sample(output, 3).shape == (3, 5, 2)
            assert head.log_prob(output, output_y).shape == (5,)
    assert {cls.output_width(2, flow_context=6) for cls in HEADS.values()} == {2, 4, 6}


def test_the_point_head_trains_with_its_criterion_and_refuses_to_sample_naming_the_heads_that_can():
    output, y = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])
    assert float(PointHead().loss(output, y)) == pytest.approx(2.5)  # the mean squared error
    assert float(PointHead(torch.nn.L1Loss()).loss(output, y)) == pytest.approx(1.5)
    mean, variance = PointHead().moments(output)
    assert mean is output and float(variance.abs().sum()) == 0
    for method in (lambda h: h.sample(output, 2), lambda h: h.log_prob(output, y)):
        with pytest.raises(ValueError, match="heads with one: 'gaussian', 'flow'"):
            method(PointHead())


def test_an_unknown_head_is_refused_with_the_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown head 'laplace'; choose one of \['flow', 'gaussian', 'point'\]"
    ):
        make_head("laplace", 1)


def test_the_flow_moments_are_those_of_its_samples_from_the_current_stream():
    torch.manual_seed(0)
    head, output = FlowHead(n_params=2, n_context=4, transforms=1, hidden=8), torch.randn(3, 4)
    with torch.random.fork_rng():
        samples = head.sample(output, FLOW_MOMENTS_SAMPLES).double()
    mean, variance = head.moments(output)
    assert mean.dtype == torch.float64
    torch.testing.assert_close(mean, samples.mean(0))
    torch.testing.assert_close(variance, samples.var(0, unbiased=False))
