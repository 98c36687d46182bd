"""The predictive distribution: the members' heads read on the network's outputs."""

import numpy as np
import pytest
import torch
from scipy.stats import norm

from sklens.nn.heads import FlowHead, GaussianHead, PointHead
from sklens.predictive import CHUNK, member_log_likelihood, member_moments, member_samples


def test_gaussian_moments_over_chunks_are_each_rows_own():
    outputs = torch.randn(2, CHUNK + 7, 4, generator=torch.Generator().manual_seed(0))
    means, variances = member_moments(outputs, [GaussianHead(), GaussianHead()])
    assert means.shape == variances.shape == (2, CHUNK + 7, 2) and means.dtype == np.float64
    np.testing.assert_array_equal(means, outputs[..., :2].numpy())
    np.testing.assert_allclose(
        variances, np.log1p(np.exp(outputs[..., 2:].double().numpy())) + 1e-6, rtol=1e-6
    )


def test_point_moments_are_the_outputs_with_no_spread():
    outputs = torch.randn(3, 5, 2)
    means, variances = member_moments(outputs, [PointHead()] * 3)
    np.testing.assert_array_equal(means, outputs.numpy())
    assert not variances.any()


def test_flow_moments_are_seeded_so_predictions_repeat():
    torch.manual_seed(0)
    heads = [FlowHead(n_params=1, n_context=3, transforms=1, hidden=8) for _ in range(2)]
    outputs = torch.randn(2, 10, 3)
    first, second = member_moments(outputs, heads), member_moments(outputs, heads)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_the_mixture_log_likelihood_is_the_log_of_the_members_mean_density():
    outputs = torch.tensor([[[0.0, 0.0]], [[2.0, 1.0]]])  # two members, one row, one parameter
    z = torch.tensor([[0.5]])
    got = member_log_likelihood(outputs, [GaussianHead(), GaussianHead()], z)
    scales = np.sqrt(np.log1p(np.exp([0.0, 1.0])) + 1e-6)
    expected = np.log(np.mean(norm.pdf(0.5, [0.0, 2.0], scales)))
    assert got.shape == (1,) and got[0] == pytest.approx(expected, rel=1e-6)


def test_member_samples_follow_each_members_own_distribution():
    outputs = torch.stack([torch.tensor([[-5.0, -20.0]]), torch.tensor([[5.0, -20.0]])])  # tiny variance
    torch.manual_seed(0)
    samples = member_samples(outputs, [GaussianHead(), GaussianHead()], 4)
    assert samples.shape == (2, 4, 1, 1)
    np.testing.assert_allclose(samples[:, :, 0, 0].numpy(), [[-5.0] * 4, [5.0] * 4], atol=1e-2)
