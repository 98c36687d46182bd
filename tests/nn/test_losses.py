import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles

from sklens.nn.losses import CORALLoss, DAREGRAMLoss, DomainAdversarialLoss, MMDLoss, RSDLoss
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
    got = float(MMDLoss(mmd_estimator=estimator, bandwidth=bandwidth)(torch.tensor(xs), torch.tensor(xt)))
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
        float(
            MMDLoss(mmd_estimator="unbiased")(
                torch.randn(32, 3, generator=g), torch.randn(32, 3, generator=g)
            )
        )
        for _ in range(50)
    ]
    biased = [
        float(MMDLoss()(torch.randn(32, 3, generator=g), torch.randn(32, 3, generator=g))) for _ in range(50)
    ]
    assert abs(np.mean(values)) < np.mean(biased) / 3


def test_mmd_rejects_unknown_estimator_and_bandwidth():
    with pytest.raises(ValueError, match="estimator"):
        MMDLoss(mmd_estimator="linear")
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


def numpy_rsd(xs: np.ndarray, xt: np.ndarray, tradeoff_angle=1.0, tradeoff_bmp=0.1) -> float:
    """Principal angles from scipy's subspace_angles; the base mismatch from numpy's SVDs."""
    sines = np.sin(subspace_angles(xs.T, xt.T))
    us, ut = (np.linalg.svd(x.T, full_matrices=False)[0] for x in (xs, xt))
    ps, _, pt_h = np.linalg.svd(us.T @ ut)
    return tradeoff_angle * sines.sum() + tradeoff_bmp * np.linalg.norm(np.abs(ps) - np.abs(pt_h.T))


def numpy_daregram(xs: np.ndarray, xt: np.ndarray, tradeoff_angle=0.05, tradeoff_scale=0.001, threshold=0.9):
    """The paper's definition on the (d + 1, d + 1) Gram matrices, from numpy's eigendecomposition."""
    decompositions = []
    for x in (xs, xt):
        a = np.hstack([np.ones((len(x), 1)), x])
        eigenvalues, eigenvectors = np.linalg.eigh(a.T @ a)
        decompositions.append((eigenvalues[::-1], eigenvectors[:, ::-1]))
    k = max(int(np.searchsorted(np.cumsum(lam) / lam.sum(), threshold)) + 1 for lam, _ in decompositions)
    (lam_s, v_s), (lam_t, v_t) = decompositions
    inv_s, inv_t = (v[:, :k] @ np.diag(1 / lam[:k]) @ v[:, :k].T for lam, v in decompositions)
    cosines = (inv_s * inv_t).sum(0) / (np.linalg.norm(inv_s, axis=0) * np.linalg.norm(inv_t, axis=0))
    scale = np.linalg.norm(lam_s[:k] - lam_t[:k]) / k
    return tradeoff_angle * np.mean(1 - cosines) + tradeoff_scale * scale


def test_rsd_matches_direct_numpy_computation():
    rng = np.random.default_rng(3)
    xs, xt = rng.normal(size=(6, 10)), rng.normal(0.3, 2.0, size=(6, 10))
    got = float(RSDLoss(tradeoff_angle=0.7, tradeoff_bmp=0.5)(torch.tensor(xs), torch.tensor(xt)))
    assert got == pytest.approx(numpy_rsd(xs, xt, 0.7, 0.5), rel=1e-6)


@pytest.mark.parametrize(
    "shape, threshold",
    # threshold 1 keeps every component: only defined where the Gram matrix has full rank (n > d)
    [((12, 5), 0.5), ((12, 5), 0.9), ((12, 5), 1.0), ((6, 10), 0.5), ((6, 10), 0.9)],
)
def test_daregram_matches_direct_numpy_computation(shape, threshold):
    rng = np.random.default_rng(4)
    xs, xt = rng.normal(size=shape), rng.normal(0.3, 2.0, size=shape)
    loss = DAREGRAMLoss(tradeoff_angle=0.3, tradeoff_scale=0.01, threshold=threshold)
    got = float(loss(torch.tensor(xs), torch.tensor(xt)))
    assert got == pytest.approx(numpy_daregram(xs, xt, 0.3, 0.01, threshold), rel=1e-6)


def test_rsd_ignores_the_scale_of_the_features():
    xs, xt = torch.randn(8, 20, dtype=torch.float64), torch.randn(8, 20, dtype=torch.float64)
    assert float(RSDLoss()(3.0 * xs, 0.5 * xt)) == pytest.approx(float(RSDLoss()(xs, xt)), rel=1e-9)


@pytest.mark.parametrize("loss", [RSDLoss(tradeoff_bmp=0.0), DAREGRAMLoss()], ids=["rsd", "daregram"])
def test_subspace_losses_are_zero_for_identical_batches(loss):
    x = torch.randn(16, 40, dtype=torch.float64)  # in float32, rounding leaves sines of ~1e-3
    assert abs(float(loss(x, x))) < 1e-6


@pytest.mark.parametrize("loss", [RSDLoss(), DAREGRAMLoss()], ids=["rsd", "daregram"])
@pytest.mark.parametrize("n_rows", [2, 16])
def test_subspace_losses_have_finite_gradients_down_to_min_rows(loss, n_rows):
    assert loss.min_rows == 2
    g = torch.Generator().manual_seed(5)
    xs = torch.randn(n_rows, 40, generator=g).requires_grad_()
    xt = (2 * torch.randn(n_rows, 40, generator=g) + 1).requires_grad_()
    value = loss(xs, xt)
    value.backward()
    assert torch.isfinite(value) and float(value) > 0
    assert torch.isfinite(xs.grad).all() and torch.isfinite(xt.grad).all() and xs.grad.abs().sum() > 0


def test_daregram_gradient_stays_finite_with_dead_units():
    """ReLU features with dead units: repeated zero singular values, where an SVD's gradient is not."""
    g = torch.Generator().manual_seed(6)
    xs, xt = (torch.relu(torch.randn(32, 64, generator=g)) for _ in range(2))
    xs[:, 24:], xt[:, 24:] = 0, 0
    xs.requires_grad_()
    DAREGRAMLoss()(xs, xt).backward()
    assert torch.isfinite(xs.grad).all() and xs.grad.abs().sum() > 0


def test_mmd_takes_the_estimators_names_in_its_order_by_keyword_only():
    """One spelling: MMDLoss takes MMDRegressor's kernel_num, kernel_mul, mmd_estimator, bandwidth; a
    positional call, whose order changed, is refused rather than read in the old order."""
    loss = MMDLoss(kernel_num=3, kernel_mul=4.0, mmd_estimator="unbiased", bandwidth="median")
    assert (loss.kernel_num, loss.kernel_mul, loss.mmd_estimator, loss.min_rows) == (3, 4.0, "unbiased", 2)
    with pytest.raises(TypeError):
        MMDLoss(2.0, 5)
    with pytest.warns(FutureWarning, match="'estimator' was renamed 'mmd_estimator' in sklens 1.0"):
        assert MMDLoss(estimator="unbiased").mmd_estimator == "unbiased"


def test_rsd_weighs_the_subspace_distance_by_tradeoff_subspace_and_warns_for_the_old_name():
    g = torch.Generator().manual_seed(0)
    xs, xt = torch.randn(8, 32, generator=g), torch.randn(8, 32, generator=g)
    base = float(RSDLoss(tradeoff_subspace=1.0, tradeoff_bmp=0.0)(xs, xt))
    assert float(RSDLoss(tradeoff_subspace=2.0, tradeoff_bmp=0.0)(xs, xt)) == pytest.approx(2 * base)
    with pytest.warns(FutureWarning, match="'tradeoff_angle' was renamed 'tradeoff_subspace'"):
        assert float(RSDLoss(tradeoff_angle=2.0, tradeoff_bmp=0.0)(xs, xt)) == pytest.approx(2 * base)
