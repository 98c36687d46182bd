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

    Parameters
    ----------
    kernel_mul : float
        Ratio between successive bandwidths.
    kernel_num : int
        Number of Gaussian kernels.
    estimator : {'biased', 'unbiased'}
        ``'biased'`` is the V-statistic of the paper: mean(K_ss) + mean(K_tt) - 2 mean(K_st).
        ``'unbiased'`` (Gretton et al. 2012) leaves the diagonals out of K_ss and K_tt, so it is zero in
        expectation when the domains coincide and can be slightly negative.
    bandwidth : {'mean', 'median'}
        The base bandwidth: the batch's mean squared pairwise distance (the paper's) or its median,
        which a few outlying rows do not inflate (see
        [`multi_kernel_matrix`][sklens.nn.losses.multi_kernel_matrix]).

    Examples
    --------
    >>> loss = MMDLoss()
    >>> x = torch.randn(32, 8)
    >>> float(loss(x, x)) == 0.0
    True
    """

    def __init__(
        self, kernel_mul: float = 2.0, kernel_num: int = 5, estimator: str = "biased", bandwidth: str = "mean"
    ) -> None:
        super().__init__()
        if estimator not in ("biased", "unbiased"):
            raise ValueError(f"estimator must be 'biased' or 'unbiased'; got {estimator!r}.")
        if bandwidth not in BANDWIDTHS:
            raise ValueError(f"bandwidth must be one of {BANDWIDTHS}; got {bandwidth!r}.")
        self.kernel_mul = kernel_mul
        self.kernel_num = kernel_num
        self.estimator = estimator
        self.bandwidth = bandwidth

    @property
    def min_rows(self) -> int:
        """Rows per domain the estimate needs: 2 for the unbiased one (its off-diagonal means)."""
        return 2 if self.estimator == "unbiased" else 1

    def forward(self, features_src: torch.Tensor, features_tgt: torch.Tensor) -> torch.Tensor:
        m = features_src.shape[0]
        kernels = multi_kernel_matrix(
            torch.cat([features_src, features_tgt]), self.kernel_mul, self.kernel_num, self.bandwidth
        )
        k_ss, k_tt, k_st = kernels[:m, :m], kernels[m:, m:], kernels[:m, m:]
        if self.estimator == "biased":
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
