"""Output heads: what a regressor's network output means, how it is trained, how it is sampled.

A head reads the network's output (the *output*, shape (n, width)) as a prediction of the k
parameters: [`PointHead`][sklens.nn.heads.PointHead] as the values themselves (width k), trained with
a criterion such as the mean squared error; [`GaussianHead`][sklens.nn.heads.GaussianHead] as a mean
and a variance per parameter (width 2k), trained with the beta-NLL loss
([`BetaNLLLoss`][sklens.nn.heads.BetaNLLLoss]); [`FlowHead`][sklens.nn.heads.FlowHead] as the context
of a conditional normalising flow over the parameters (neural posterior estimation, with zuko).

Every head implements one interface, [`Head`][sklens.nn.heads.Head]: ``output_width(k, **options)``
(the network's output width), ``loss(output, y)`` (a scalar to minimise), ``moments(output)`` (each
row's mean and variance, shape (n, k) each; the point head's variance is 0), ``sample(output,
n_samples)`` (shape (n_samples, n, k)) and ``log_prob(output, y)`` (each row's log density, shape
(n,)); ``has_distribution`` says whether the last two exist. [`HEADS`][sklens.nn.heads.HEADS] maps
each head's name to its class, and [`make_head`][sklens.nn.heads.make_head] builds one from the
options an estimator holds: a new head is one class here and one entry in ``HEADS``. The adaptation
losses act on the network's features, before the output, so they work with every head.
"""

from __future__ import annotations

import abc
import math

import torch
import torch.nn.functional as F
from torch import nn

from sklens._optional import import_optional

__all__ = [
    "HEADS",
    "BetaNLLLoss",
    "FlowHead",
    "GaussianHead",
    "Head",
    "PointHead",
    "gaussian_moments",
    "make_head",
]

#: The smallest variance a Gaussian head predicts, so that the loss stays finite.
MIN_VARIANCE = 1e-6
#: Samples per row from which a flow's mean and variance are estimated (``FlowHead.moments``).
FLOW_MOMENTS_SAMPLES = 1000


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


class Head(nn.Module, abc.ABC):
    """The interface of every head (see the module's description); subclasses implement it.

    A head is a torch module, so that its parameters (a flow's) train with the network's, move with it
    to a device and are saved with it.
    """

    #: Whether the head predicts a distribution (``sample`` and ``log_prob``), not only values.
    has_distribution: bool

    @classmethod
    @abc.abstractmethod
    def output_width(cls, n_params: int, **options) -> int:
        """The network's output width the head reads for ``n_params`` parameters."""

    @classmethod
    @abc.abstractmethod
    def from_options(cls, n_params: int, **options) -> Head:
        """Build the head for ``n_params`` parameters, taking the ``options`` it uses (see `make_head`)."""

    @abc.abstractmethod
    def loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training loss of the outputs (n, width) against the parameters ``y`` (n, k): a scalar."""

    @abc.abstractmethod
    def moments(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's predictive mean and variance, shape (n, k) each."""

    @abc.abstractmethod
    def sample(self, output: torch.Tensor, n_samples: int) -> torch.Tensor:
        """``n_samples`` draws per row from torch's current random stream, shape (n_samples, n, k)."""

    @abc.abstractmethod
    def log_prob(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each row's log density of ``y`` given its output, shape (n,)."""


class PointHead(Head):
    """The values of the parameters themselves (width k), trained with a criterion.

    Its moments are the output and a variance of 0; it has no distribution to sample or evaluate.

    Parameters
    ----------
    criterion : torch.nn.Module, optional
        The loss ``criterion(output, y)``; the mean squared error by default.

    Examples
    --------
    >>> head = PointHead()
    >>> mean, variance = head.moments(torch.ones(4, head.output_width(3)))
    >>> mean.shape, float(variance.abs().sum())
    (torch.Size([4, 3]), 0.0)
    """

    has_distribution = False

    def __init__(self, criterion: nn.Module | None = None) -> None:
        super().__init__()
        self.criterion = nn.MSELoss() if criterion is None else criterion

    @classmethod
    def output_width(cls, n_params: int, **options) -> int:
        """One output per parameter."""
        return n_params

    @classmethod
    def from_options(cls, n_params: int, *, criterion: nn.Module | None = None, **options) -> PointHead:
        return cls(criterion)

    def loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.criterion(output, y)

    def moments(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return output, torch.zeros_like(output)

    def sample(self, output: torch.Tensor, n_samples: int) -> torch.Tensor:
        raise ValueError(_no_distribution())

    def log_prob(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise ValueError(_no_distribution())


def _no_distribution() -> str:
    names = ", ".join(f"{name!r}" for name, head in HEADS.items() if head.has_distribution)
    return f"the point head predicts values, not a distribution; heads with one: {names}."


class GaussianHead(Head):
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

    has_distribution = True

    def __init__(self, beta: float = 0.5) -> None:
        super().__init__()
        self.criterion = BetaNLLLoss(beta)

    @classmethod
    def output_width(cls, n_params: int, **options) -> int:
        """The network's output width for ``n_params`` parameters: 2 per parameter."""
        return 2 * n_params

    @classmethod
    def from_options(cls, n_params: int, *, beta: float = 0.5, **options) -> GaussianHead:
        return cls(beta)

    def loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.criterion(output, y)

    def moments(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and variance of each parameter (``gaussian_moments``)."""
        return gaussian_moments(output)

    def log_prob(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each row's log density of ``y``: the sum over parameters of the Gaussian log densities."""
        mean, variance = gaussian_moments(output)
        return torch.distributions.Normal(mean, variance.sqrt()).log_prob(y).sum(-1)

    def sample(self, output: torch.Tensor, n_samples: int) -> torch.Tensor:
        """``n_samples`` draws per row from torch's current random stream, shape (n_samples, n, k)."""
        mean, variance = gaussian_moments(output)
        noise = torch.randn((n_samples, *mean.shape), dtype=mean.dtype, device=mean.device)
        return mean + variance.sqrt() * noise


class FlowHead(Head):
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

    has_distribution = True

    def __init__(self, n_params: int, n_context: int, transforms: int = 3, hidden: int = 64) -> None:
        super().__init__()
        if n_params < 1:
            raise ValueError(f"a flow needs at least one parameter; got n_params={n_params}.")
        zuko = import_optional("zuko", "flow", "head='flow'")
        self.flow = zuko.flows.NSF(
            features=n_params, context=n_context, transforms=transforms, hidden_features=(hidden, hidden)
        )

    @classmethod
    def output_width(cls, n_params: int, *, flow_context: int = 32, **options) -> int:
        """The flow's context width, ``flow_context``, whatever the number of parameters."""
        return flow_context

    @classmethod
    def from_options(
        cls,
        n_params: int,
        *,
        flow_context: int = 32,
        flow_transforms: int = 3,
        flow_hidden: int = 64,
        **options,
    ) -> FlowHead:
        return cls(n_params, flow_context, flow_transforms, flow_hidden)

    def moments(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and variance of ``FLOW_MOMENTS_SAMPLES`` (1000) draws per row from torch's current
        random stream, in float64."""
        samples = self.sample(output, FLOW_MOMENTS_SAMPLES).double()
        return samples.mean(dim=0), samples.var(dim=0, unbiased=False)

    def loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -self.log_prob(output, y).mean()

    def log_prob(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each row's log density of ``y`` given its output, shape (n,)."""
        return self.flow(output).log_prob(y)

    def sample(self, output: torch.Tensor, n_samples: int) -> torch.Tensor:
        """``n_samples`` draws per row from torch's current random stream, shape (n_samples, n, k)."""
        return self.flow(output).sample((n_samples,))


HEADS: dict[str, type[Head]] = {"point": PointHead, "gaussian": GaussianHead, "flow": FlowHead}
"""Every head by the name an estimator's ``head`` parameter gives."""


def make_head(name: str, n_params: int, **options) -> Head:
    """Build the head called ``name`` for ``n_params`` parameters.

    Parameters
    ----------
    name : str
        A key of ``HEADS``: ``'point'``, ``'gaussian'`` or ``'flow'``.
    n_params : int
        The number of parameters k.
    **options
        What the heads are configured with; each takes its own and ignores the others:
        ``criterion`` (point), ``beta`` (gaussian), ``flow_context``, ``flow_transforms`` and
        ``flow_hidden`` (flow).

    Returns
    -------
    Head

    Examples
    --------
    >>> head = make_head("gaussian", 2, beta=0.0, flow_context=8)
    >>> type(head).__name__, head.output_width(2)
    ('GaussianHead', 4)
    """
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; choose one of {sorted(HEADS)}.")
    return HEADS[name].from_options(n_params, **options)
