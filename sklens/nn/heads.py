"""Output heads: what a regressor's network output means, how it is trained, how it is sampled.

A head reads the network's output (the *output*, shape (n, width)) as a predictive distribution
over the k parameters: [`GaussianHead`][sklens.nn.heads.GaussianHead] as a mean and a variance per
parameter (width 2k), trained with the beta-NLL loss
([`BetaNLLLoss`][sklens.nn.heads.BetaNLLLoss]); [`FlowHead`][sklens.nn.heads.FlowHead] as the context
of a conditional normalising flow over the parameters (neural posterior estimation, with zuko). Every
head has the same methods: ``loss(output, y)`` (a scalar to minimise), ``log_prob(output, y)`` (each
row's log density, shape (n,)) and ``sample(output, n_samples)`` (shape (n_samples, n, k)). The
adaptation losses act on the network's features, before the output, so they work with every head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sklens._optional import import_optional

__all__ = ["BetaNLLLoss", "FlowHead", "GaussianHead", "gaussian_moments"]

#: The smallest variance a Gaussian head predicts, so that the loss stays finite.
MIN_VARIANCE = 1e-6


def gaussian_moments(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split an output of width 2k into a mean and a variance per parameter.

    Parameters
    ----------
    output : torch.Tensor of shape (..., 2k)
        The first k values are the means; the variances are ``softplus`` of the last k, plus
        ``MIN_VARIANCE``.

    Returns
    -------
    mean, variance : torch.Tensor of shape (..., k)

    Examples
    --------
    >>> mean, variance = gaussian_moments(torch.tensor([[1.0, 0.0]]))
    >>> float(mean), round(float(variance), 4)
    (1.0, 0.6931)
    """
    k = output.shape[-1] // 2
    return output[..., :k], F.softplus(output[..., k:]) + MIN_VARIANCE


class BetaNLLLoss(nn.Module):
    """The beta-NLL loss of Seitzer et al. (ICLR 2022) on a Gaussian head's output.

    Each parameter's Gaussian negative log-likelihood, ``0.5 * (log(2 pi var) + (y - mean)^2 / var)``,
    is weighted by ``var ** beta`` with the gradient stopped through the weight, then averaged over
    rows and parameters. ``beta=0`` is the Gaussian NLL; ``beta=1`` gives the mean the gradient of the
    mean squared error.

    Parameters
    ----------
    beta : float
        The exponent, in [0, 1]; 0.5 as recommended by the paper.

    Examples
    --------
    >>> loss = BetaNLLLoss(beta=0.0)
    >>> round(float(loss(torch.tensor([[0.0, 10.0]]), torch.tensor([[0.0]]))), 4)  # var ~ 10
    2.0702
    """

    def __init__(self, beta: float = 0.5) -> None:
        super().__init__()
        if not 0 <= beta <= 1:
            raise ValueError(f"beta must be in [0, 1]; got {beta!r}.")
        self.beta = beta

    def forward(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mean, variance = gaussian_moments(output)
        nll = 0.5 * (torch.log(2 * math.pi * variance) + (y - mean) ** 2 / variance)
        if self.beta:
            nll = nll * variance.detach() ** self.beta
        return nll.mean()


class GaussianHead(nn.Module):
    """A mean and a variance per parameter, independent Gaussians, trained with beta-NLL.

    Parameters
    ----------
    beta : float
        The beta of [`BetaNLLLoss`][sklens.nn.heads.BetaNLLLoss].

    Examples
    --------
    >>> head = GaussianHead()
    >>> output = torch.zeros(4, head.output_width(3))
    >>> head.sample(output, 5).shape, head.log_prob(output, torch.zeros(4, 3)).shape
    (torch.Size([5, 4, 3]), torch.Size([4]))
    """

    def __init__(self, beta: float = 0.5) -> None:
        super().__init__()
        self.criterion = BetaNLLLoss(beta)

    @staticmethod
    def output_width(n_params: int) -> int:
        """The network's output width for ``n_params`` parameters: 2 per parameter."""
        return 2 * n_params

    def loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.criterion(output, y)

    def log_prob(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each row's log density of ``y``: the sum over parameters of the Gaussian log densities."""
        mean, variance = gaussian_moments(output)
        return torch.distributions.Normal(mean, variance.sqrt()).log_prob(y).sum(-1)

    def sample(self, output: torch.Tensor, n_samples: int) -> torch.Tensor:
        """``n_samples`` draws per row from torch's current random stream, shape (n_samples, n, k)."""
        mean, variance = gaussian_moments(output)
        noise = torch.randn((n_samples, *mean.shape), dtype=mean.dtype, device=mean.device)
        return mean + variance.sqrt() * noise


class FlowHead(nn.Module):
    """A conditional neural spline flow over the parameters, conditioned on the network's output.

    Trained by maximum likelihood (``loss`` is the mean of ``-log p(y | output)``): neural posterior
    estimation. The flow is zuko's ``NSF`` (Durkan et al. 2019), installed by the extra ``flow``.

    Parameters
    ----------
    n_params : int
        The number of parameters k (at least 1).
    n_context : int
        The network's output width, the flow's context.
    transforms : int
        Autoregressive spline transforms.
    hidden : int
        Units of each of the two hidden layers of every transform's network.

    Examples
    --------
    >>> head = FlowHead(n_params=2, n_context=8)
    >>> output = torch.zeros(4, 8)
    >>> head.sample(output, 5).shape, head.log_prob(output, torch.zeros(4, 2)).shape
    (torch.Size([5, 4, 2]), torch.Size([4]))
    """

    def __init__(self, n_params: int, n_context: int, transforms: int = 3, hidden: int = 64) -> None:
        super().__init__()
        if n_params < 1:
            raise ValueError(f"a flow needs at least one parameter; got n_params={n_params}.")
        zuko = import_optional("zuko", "flow", "head='flow'")
        self.flow = zuko.flows.NSF(
            features=n_params, context=n_context, transforms=transforms, hidden_features=(hidden, hidden)
        )

    def loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -self.log_prob(output, y).mean()

    def log_prob(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each row's log density of ``y`` given its output, shape (n,)."""
        return self.flow(output).log_prob(y)

    def sample(self, output: torch.Tensor, n_samples: int) -> torch.Tensor:
        """``n_samples`` draws per row from torch's current random stream, shape (n_samples, n, k)."""
        return self.flow(output).sample((n_samples,))
