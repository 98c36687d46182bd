import numpy as np
import pytest
import torch

from sklens.nn.losses import CORALLoss, DomainAdversarialLoss, MMDLoss
from sklens.nn.networks import DomainClassifier


def numpy_mmd(
    xs: np.ndarray, xt: np.ndarray, kernel_mul=2.0, kernel_num=5, unbiased=False, bandwidth="mean"
) -> float:
    """The paper's multi-kernel MMD written out with explicit loops over pairs."""
    joint = np.concatenate([xs, xt])
    n = len(joint)
    d2 = np.array([[np.sum((a - b) ** 2) for b in joint] for a in joint])
    pairs = [d2[i, j] for i in range(n) for j in range(n) if i != j]
    base = np.mean(pairs) if bandwidth == "mean" else np.median(pairs)
    bandwidths = [base * kernel_mul ** (i - kernel_num // 2) for i in range(kernel_num)]
    k = sum(np.exp(-d2 / bw) for bw in bandwidths)
    m = len(xs)
    kss, ktt, kst = k[:m, :m], k[m:, m:], k[:m, m:]
    if unbiased:
        off = lambda a: (a.sum() - np.trace(a)) / (len(a) * (len(a) - 1))  # noqa: E731
        return off(kss) + off(ktt) - 2 * kst.mean()
    return kss.mean() + ktt.mean() - 2 * kst.mean()


def test_mmd_is_zero_for_identical_batches():
    x = torch.randn(16, 6)
    assert abs(float(MMDLoss()(x, x))) < 1e-6


def test_mmd_grows_with_mean_shift():
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(64, 4, generator=g)
    xt = torch.randn(64, 4, generator=g)
    values = [float(MMDLoss()(xs, xt + shift)) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert values[1] > 0
    assert values == sorted(values) and values[-1] > 5 * values[1]


@pytest.mark.parametrize("bandwidth", ["mean", "median"])
@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_mmd_matches_direct_numpy_computation(estimator, bandwidth):
    rng = np.random.default_rng(1)
    xs, xt = rng.normal(size=(7, 3)), rng.normal(0.5, 1.0, size=(7, 3))
    got = float(MMDLoss(estimator=estimator, bandwidth=bandwidth)(torch.tensor(xs), torch.tensor(xt)))
    expected = numpy_mmd(xs, xt, unbiased=estimator == "unbiased", bandwidth=bandwidth)
    assert got == pytest.approx(expected, rel=1e-10)


def test_median_bandwidth_keeps_seeing_a_shift_that_one_outlier_hides_from_the_mean():
    """One source row 100x out (a very bright image's features) inflates the mean bandwidth so much
    that a real shift of the other rows almost vanishes from the MMD; the median bandwidth still sees it."""
    g = torch.Generator().manual_seed(3)
    xs, xt = torch.randn(32, 8, generator=g), torch.randn(32, 8, generator=g) + 1.0
    with_outlier = xs.clone()
    with_outlier[0] = 100.0
    for bandwidth, kept in (("mean", 0.2), ("median", 0.8)):
        loss = MMDLoss(bandwidth=bandwidth)
        ratio = float(loss(with_outlier, xt)) / float(loss(xs, xt))
        assert (ratio < kept) if bandwidth == "mean" else (ratio > kept), (bandwidth, ratio)


def test_unbiased_mmd_is_centred_for_same_distribution():
    g = torch.Generator().manual_seed(2)
    values = [
        float(MMDLoss(estimator="unbiased")(torch.randn(32, 3, generator=g), torch.randn(32, 3, generator=g)))
        for _ in range(50)
    ]
    biased = [
        float(MMDLoss()(torch.randn(32, 3, generator=g), torch.randn(32, 3, generator=g))) for _ in range(50)
    ]
    assert abs(np.mean(values)) < np.mean(biased) / 3


def test_mmd_rejects_unknown_estimator_and_bandwidth():
    with pytest.raises(ValueError, match="estimator"):
        MMDLoss(estimator="linear")
    with pytest.raises(ValueError, match="bandwidth must be one of"):
        MMDLoss(bandwidth="max")


def test_domain_adversarial_loss_sends_reversed_gradient_to_features():
    torch.manual_seed(0)
    loss_fn = DomainAdversarialLoss(DomainClassifier(5, hidden=8), coefficient=0.5)
    fs = torch.randn(8, 5, requires_grad=True)
    ft = (torch.randn(8, 5) + 1).requires_grad_()
    loss = loss_fn(fs, ft)
    assert 0 < float(loss) < 5
    loss.backward()
    assert fs.grad.abs().sum() > 0
    # Without reversal the same loss gives the opposite gradient, scaled by 1 / coefficient.
    fs2 = fs.detach().clone().requires_grad_()
    loss_fn.reversal.coefficient = -1.0
    loss_fn(fs2, ft.detach()).backward()
    torch.testing.assert_close(fs.grad, -0.5 * fs2.grad)


def test_coral_is_zero_for_equal_covariances_and_positive_otherwise():
    x = torch.randn(50, 4)
    assert float(CORALLoss()(x, x + 3.0)) == pytest.approx(0.0, abs=1e-7)
    assert float(CORALLoss()(x, 2 * x)) > 0
