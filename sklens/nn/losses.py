"""Domain-adaptation losses.

Each loss is a small torch module with one signature, ``loss(features_src, features_tgt) -> scalar``:
the features of a source batch and of a target batch, each of shape (n, n_features). A new
adaptation method is a new loss of this form; the estimators' training loop stays the same. A loss
that needs several rows per domain to be defined (a covariance, an off-diagonal mean) says so in its
``min_rows`` attribute; the estimators skip the term on a shorter batch instead of training on NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sklens._deprecation import renamed
from sklens.nn.layers import GradientReversal

BANDWIDTHS = ("mean", "median")


def multi_kernel_matrix(
    joint: torch.Tensor, kernel_mul: float = 2.0, kernel_num: int = 5, bandwidth: str = "mean"
) -> torch.Tensor:
    """Sum of Gaussian RBF kernels over all pairs of rows of ``joint``.

    The base bandwidth is the mean (``bandwidth='mean'``, Swierc et al. 2023) or the median
    (``'median'``, the median heuristic) of the squared distances between distinct rows of ``joint``,
    detached from the graph; the bandwidths are ``base * kernel_mul**(i - kernel_num // 2)`` for ``i``
    in ``range(kernel_num)``, i.e. {1/4, 1/2, 1, 2, 4} x base for the defaults. Each kernel is
    ``exp(-d^2 / bandwidth)``. One row far from the rest (a very bright image's features) multiplies
    the mean by up to ~n but leaves the median where the bulk is.
    """
    sq_dist = torch.cdist(joint, joint).pow(2)
    base = torch.clamp(_base_bandwidth(sq_dist.detach(), bandwidth), min=torch.finfo(joint.dtype).tiny)
    exponents = torch.arange(kernel_num, device=joint.device, dtype=joint.dtype) - kernel_num // 2
    bandwidths = base * kernel_mul**exponents
    return torch.exp(-sq_dist[None] / bandwidths[:, None, None]).sum(0)


def _base_bandwidth(sq_dist: torch.Tensor, bandwidth: str) -> torch.Tensor:
    """The mean or the median of the off-diagonal entries of a matrix of squared distances."""
    n = sq_dist.shape[0]
    if bandwidth == "mean":
        return sq_dist.sum() / (n * n - n)
    rows, cols = torch.triu_indices(n, n, offset=1, device=sq_dist.device)
    return torch.quantile(sq_dist[rows, cols], 0.5)


class MMDLoss(nn.Module):
    """Squared maximum mean discrepancy with a multi-kernel Gaussian RBF kernel.

    All parameters are keyword-only, in the order of
    [`MMDRegressor`][sklens.regression.MMDRegressor]'s.

    Parameters
    ----------
    kernel_num : int
        Number of Gaussian kernels.
    kernel_mul : float
        Ratio between successive bandwidths.
    mmd_estimator : {'biased', 'unbiased'}
        ``'biased'`` is the V-statistic of the paper: mean(K_ss) + mean(K_tt) - 2 mean(K_st).
        ``'unbiased'`` (Gretton et al. 2012) leaves the diagonals out of K_ss and K_tt, so it is zero in
        expectation when the domains coincide and can be slightly negative.
    bandwidth : {'mean', 'median'}
        The base bandwidth: the batch's mean squared pairwise distance (the paper's) or its median,
        which a few outlying rows do not inflate (see
        [`multi_kernel_matrix`][sklens.nn.losses.multi_kernel_matrix]).
    estimator : str, optional
        The former name of ``mmd_estimator``.

        .. deprecated:: 1.0
            Renamed ``mmd_estimator`` (the estimator's name); removed in 1.1.

    Examples
    --------
    >>> loss = MMDLoss()
    >>> x = torch.randn(32, 8)
    >>> float(loss(x, x)) == 0.0
    True
    """

    def __init__(
        self,
        *,
        kernel_num: int = 5,
        kernel_mul: float = 2.0,
        mmd_estimator: str = "biased",
        bandwidth: str = "mean",
        estimator: str | None = None,
    ) -> None:
        super().__init__()
        mmd_estimator = renamed(
            "MMDLoss",
            "estimator",
            estimator,
            "mmd_estimator",
            mmd_estimator,
            None,
            since="1.0",
            removal="1.1",
        )
        if mmd_estimator not in ("biased", "unbiased"):
            raise ValueError(f"mmd_estimator must be 'biased' or 'unbiased'; got {mmd_estimator!r}.")
        if bandwidth not in BANDWIDTHS:
            raise ValueError(f"bandwidth must be one of {BANDWIDTHS}; got {bandwidth!r}.")
        self.kernel_num = kernel_num
        self.kernel_mul = kernel_mul
        self.mmd_estimator = mmd_estimator
        self.bandwidth = bandwidth

    @property
    def min_rows(self) -> int:
        """Rows per domain the estimate needs: 2 for the unbiased one (its off-diagonal means)."""
        return 2 if self.mmd_estimator == "unbiased" else 1

    def forward(self, features_src: torch.Tensor, features_tgt: torch.Tensor) -> torch.Tensor:
        m = features_src.shape[0]
        kernels = multi_kernel_matrix(
            torch.cat([features_src, features_tgt]), self.kernel_mul, self.kernel_num, self.bandwidth
        )
        k_ss, k_tt, k_st = kernels[:m, :m], kernels[m:, m:], kernels[:m, m:]
        if self.mmd_estimator == "biased":
            return k_ss.mean() + k_tt.mean() - 2 * k_st.mean()
        return _off_diagonal_mean(k_ss) + _off_diagonal_mean(k_tt) - 2 * k_st.mean()


def _off_diagonal_mean(k: torch.Tensor) -> torch.Tensor:
    n = k.shape[0]
    return (k.sum() - k.diagonal().sum()) / (n * n - n)


class DomainAdversarialLoss(nn.Module):
    """The DANN loss: a domain classifier behind a gradient reversal layer.

    Returns the cross-entropy (softmax + NLL) of the classifier's prediction of the domain (0 source,
    1 target). Minimising it trains the classifier to tell the domains apart, while the reversed
    gradient trains the feature extractor to make them indistinguishable.

    Parameters
    ----------
    domain_classifier : torch.nn.Module
        Maps (n, n_features) to (n, 2) logits.
    coefficient : float
        Initial coefficient of the gradient reversal layer (see ``reversal``).
    """

    min_rows = 1

    def __init__(self, domain_classifier: nn.Module, coefficient: float = 1.0) -> None:
        super().__init__()
        self.reversal = GradientReversal(coefficient)
        self.domain_classifier = domain_classifier

    def forward(self, features_src: torch.Tensor, features_tgt: torch.Tensor) -> torch.Tensor:
        logits = self.domain_classifier(self.reversal(torch.cat([features_src, features_tgt])))
        domains = torch.cat(
            [
                torch.zeros(len(features_src), dtype=torch.long, device=logits.device),
                torch.ones(len(features_tgt), dtype=torch.long, device=logits.device),
            ]
        )
        return F.cross_entropy(logits, domains)


class CORALLoss(nn.Module):
    """Deep CORAL (Sun & Saenko 2016): squared Frobenius distance between feature covariances.

    Divided by 4 d^2 as in the original paper, d being the number of features. A covariance needs two
    rows per domain (``min_rows``).
    """

    min_rows = 2

    def forward(self, features_src: torch.Tensor, features_tgt: torch.Tensor) -> torch.Tensor:
        d = features_src.shape[1]
        diff = _covariance(features_src) - _covariance(features_tgt)
        return diff.pow(2).sum() / (4 * d * d)


def _covariance(features: torch.Tensor) -> torch.Tensor:
    """Unbiased covariance of the columns of (n, d) ``features``, as ``torch.cov(features.T)``."""
    centred = features - features.mean(dim=0, keepdim=True)
    return centred.T @ centred / (features.shape[0] - 1)


class RSDLoss(nn.Module):
    """Representation Subspace Distance (Chen, Wang, Wang & Long, ICML 2021).

    Compares the subspaces spanned by the source and the target feature vectors of a batch, which do
    not change when the features are rescaled (the point of the method: aligning feature
    distributions also changes their scale, which a regressor is sensitive to). ``U_s`` and ``U_t``
    are orthonormal bases of the two spans (the left singular vectors of the (d, n) transposed
    feature matrices; the subspaces have dimension min(n, d)). The SVD ``U_s^T U_t = P_s cos(theta)
    P_t^T`` gives the cosines of the principal angles ``theta`` and the principal vectors expressed in
    each basis, ``P_s`` and ``P_t``. The loss is

    ``tradeoff_subspace * sum(sin(theta)) + tradeoff_bmp * || |P_s| - |P_t| ||_F``,

    the representation subspace distance plus the base mismatch penalty, which keeps the ordering of
    the two bases alike. The definition and default weights follow the authors' reference code (the
    Transfer-Learning-Library's ``RepresentationSubspaceDistance``): a sum of sines, not of squared
    sines, and an unsquared Frobenius norm. An angle closed to within rounding (a sine below 0.011 in
    float32) adds nothing and gets no gradient, where the sine's derivative would amplify the rounding.

    The subspaces only differ when a batch has fewer rows than the features have columns: with n >= d
    rows of full rank both span the whole feature space. The estimator
    [`RSDRegressor`][sklens.regression.RSDRegressor] checks this before training.

    Parameters
    ----------
    tradeoff_subspace : float
        Weight of the subspace distance, the sum of sines of the principal angles (1).
    tradeoff_bmp : float
        Weight of the base mismatch penalty (0.1, as in the reference code).
    tradeoff_angle : float, optional
        The former name of ``tradeoff_subspace``.

        .. deprecated:: 1.0
            Renamed ``tradeoff_subspace`` (DARE-GRAM's ``tradeoff_angle`` weighs another term);
            removed in 1.1.

    Attributes
    ----------
    min_rows : int
        2: a one-row batch spans a single direction, and its principal angles say little.

    Examples
    --------
    >>> loss = RSDLoss()
    >>> x = torch.randn(8, 32)
    >>> float(loss(x, x)) < 0.01  # the penalty's bases are only defined up to rounding here
    True
    >>> float(loss(x, torch.randn(8, 32))) > 1
    True
    """

    min_rows = 2

    def __init__(
        self,
        tradeoff_subspace: float = 1.0,
        tradeoff_bmp: float = 0.1,
        *,
        tradeoff_angle: float | None = None,
    ) -> None:
        super().__init__()
        self.tradeoff_subspace = renamed(
            "RSDLoss",
            "tradeoff_angle",
            tradeoff_angle,
            "tradeoff_subspace",
            tradeoff_subspace,
            None,
            "1.0",
            "1.1",
        )
        self.tradeoff_bmp = tradeoff_bmp

    def forward(self, features_src: torch.Tensor, features_tgt: torch.Tensor) -> torch.Tensor:
        basis_src = torch.linalg.svd(features_src.T, full_matrices=False)[0]
        basis_tgt = torch.linalg.svd(features_tgt.T, full_matrices=False)[0]
        rotation_src, cosines, rotation_tgt_h = torch.linalg.svd(basis_src.T @ basis_tgt)
        distance = _sines(cosines).sum()
        mismatch = torch.linalg.matrix_norm(rotation_src.abs() - rotation_tgt_h.mT.abs())
        return self.tradeoff_subspace * distance + self.tradeoff_bmp * mismatch


def _sines(cosines: torch.Tensor) -> torch.Tensor:
    """sqrt(1 - cos^2), zero with a zero gradient where the angle is within rounding of zero.

    Rounding leaves ``1 - cos^2`` of about 10 x eps for a closed angle (1e-6 in float32, for 16 x 40
    features); below 1000 x eps (a sine of 0.011 in float32, 4.7e-7 in float64) the angle counts as
    closed, as the derivative of the sine, ``-cos / sin``, would otherwise amplify the rounding.
    """
    squared = 1 - cosines.pow(2)
    open_ = squared > 1000 * torch.finfo(cosines.dtype).eps
    return torch.where(open_, torch.where(open_, squared, 1.0).sqrt(), 0.0)


class DAREGRAMLoss(nn.Module):
    """DARE-GRAM (Nejjar, Wang & Fink, WACV 2023): align the inverse Gram matrices of the features.

    Each domain's features get a column of ones (the bias of a linear head), ``A = [1, features]``,
    and their Gram matrix ``G = A^T A`` of shape (d + 1, d + 1); a linear regressor's solution is
    ``G^+ A^T y``, so aligning ``G^+`` aligns what the head learns in either domain. The
    pseudo-inverses keep the ``k`` leading principal components, ``k`` being the fewest that explain a
    fraction ``threshold`` of the sum of the eigenvalues of ``G``, the larger of the two domains'
    (the same ``k`` for both). The loss is

    ``tradeoff_angle * mean_j(1 - cos(G_s^+[:, j], G_t^+[:, j])) + tradeoff_scale *
    ||lambda_s[:k] - lambda_t[:k]||_2 / k``,

    an angle term over the d + 1 columns of the pseudo-inverses and a scale term over the ``k``
    leading eigenvalues ``lambda``. As in the authors' code, the angle term is averaged over the
    columns and the scale term divided by ``k``, so the default weights (theirs) do not depend on the
    feature width. Everything comes from the (n, d + 1) matrix ``A``, whose squared singular values
    are the nonzero eigenvalues of ``G`` and whose truncated pseudo-inverse gives
    ``G_k^+ = A_k^+ (A_k^+)^T``; no (d + 1, d + 1) matrix is formed, which makes the loss cheap when
    n < d. Computed in the features' precision: float32 suffices, as only components above the
    threshold are inverted.

    Parameters
    ----------
    tradeoff_angle : float
        Weight of the angle term (0.05).
    tradeoff_scale : float
        Weight of the scale term (0.001).
    threshold : float
        Fraction of the eigenvalue sum the kept principal components explain, in (0, 1] (0.9); 1
        keeps every component, and so inverts rounding-level eigenvalues of features of low rank.

    Attributes
    ----------
    min_rows : int
        2: a one-row Gram matrix has rank one, with no principal structure to align.

    Examples
    --------
    >>> loss = DAREGRAMLoss()
    >>> x = torch.randn(16, 8)
    >>> float(loss(x, x)) < 1e-5
    True
    >>> float(loss(x, 3 * torch.randn(16, 8))) > 0
    True
    """

    min_rows = 2

    def __init__(
        self, tradeoff_angle: float = 0.05, tradeoff_scale: float = 0.001, threshold: float = 0.9
    ) -> None:
        super().__init__()
        self.tradeoff_angle = tradeoff_angle
        self.tradeoff_scale = tradeoff_scale
        self.threshold = threshold

    def forward(self, features_src: torch.Tensor, features_tgt: torch.Tensor) -> torch.Tensor:
        a_src, a_tgt = _with_bias_column(features_src), _with_bias_column(features_tgt)
        eigen_src, eigen_tgt = torch.linalg.svdvals(a_src).pow(2), torch.linalg.svdvals(a_tgt).pow(2)
        k = max(self._components(eigen_src), self._components(eigen_tgt))
        factors = _gram_inverse_factor(a_src, eigen_src, k), _gram_inverse_factor(a_tgt, eigen_tgt, k)
        angle = (1 - _column_cosines(*factors)).mean()
        scale = torch.linalg.vector_norm(eigen_src[:k] - eigen_tgt[:k]) / k
        return self.tradeoff_angle * angle + self.tradeoff_scale * scale

    def _components(self, eigenvalues: torch.Tensor) -> int:
        """The fewest leading eigenvalues whose share of the sum reaches ``threshold``."""
        eigenvalues = eigenvalues.detach()
        share = torch.cumsum(eigenvalues, 0) / eigenvalues.sum()
        return min(int((share < self.threshold).sum()) + 1, len(eigenvalues))


def _with_bias_column(features: torch.Tensor) -> torch.Tensor:
    return torch.cat([features.new_ones(len(features), 1), features], dim=1)


def _gram_inverse_factor(a: torch.Tensor, eigenvalues: torch.Tensor, k: int) -> torch.Tensor:
    """``P = a_k^+``, whose ``P @ P.T`` is the pseudo-inverse of ``a.T @ a`` on its ``k`` leading
    principal components (``eigenvalues``: the squared singular values of ``a``, decreasing).

    Through ``torch.linalg.pinv``, whose gradient is written in terms of the pseudo-inverse itself, the
    gradient stays finite when the features have repeated or zero singular values (dead units).
    """
    singular = eigenvalues.detach().sqrt()
    rtol = 0.0 if k == len(singular) else float((singular[k - 1] + singular[k]) / (2 * singular[0]))
    return torch.linalg.pinv(a, rtol=rtol)


def _column_cosines(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Cosine of the angle between column j of ``p @ p.T`` and column j of ``q @ q.T``, for each j.

    From the (d, n) factors, without forming the (d, d) products: column j of ``p @ p.T`` is
    ``p @ p[j]``, so the inner products are ``p[j] @ (p.T @ q) @ q[j]``.
    """
    dots = ((p @ (p.T @ q)) * q).sum(1)
    norms_sq = ((p @ (p.T @ p)) * p).sum(1) * ((q @ (q.T @ q)) * q).sum(1)
    return dots / norms_sq.clamp(min=torch.finfo(p.dtype).tiny).sqrt()
