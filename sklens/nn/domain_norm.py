"""Domain-specific BatchNorm: separate statistics for the source and the target rows of a batch.

A training step passes the concatenation [source rows; target rows] through the network once. A
[`DomainBatchNorm`][sklens.nn.domain_norm.DomainBatchNorm] layer normalises the leading source rows
with its source layer's statistics and the rest with its target layer's, each layer keeping its own
running statistics for evaluation (AdaBN, Li et al. 2018; DSBN, Chang et al. 2019).
[`use_domain_batchnorm`][sklens.nn.domain_norm.use_domain_batchnorm] puts such a layer in place of
every ``BatchNorm1d``/``BatchNorm2d`` of a network, and
[`domain_rows`][sklens.nn.domain_norm.domain_rows] tells the layers, for the forward passes made
inside it, how many leading rows are source rows, or which domain every row is from.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["DomainBatchNorm", "domain_rows", "use_domain_batchnorm"]

DOMAINS = ("source", "target")


class DomainBatchNorm(nn.Module):
    """Two BatchNorm layers, one per domain, in place of one.

    ``source`` is the original layer; ``target`` a copy of it (the same class, shape, settings and
    initial state). Without a split (``n_source`` None), every row is normalised by the layer of
    ``domain``; with one, the first ``n_source`` rows by ``source`` and the others by ``target``. In
    training each layer normalises by the statistics of its own rows and updates its own running
    statistics; in evaluation each uses its running statistics.

    Parameters
    ----------
    norm : torch.nn.BatchNorm1d or torch.nn.BatchNorm2d
        The layer to split; it becomes ``source``.
    share_affine : bool
        True (AdaBN): only the statistics are per domain, both domains are scaled and shifted by
        ``source``'s affine parameters, which the task loss trains. False (DSBN): ``target`` has its
        own affine parameters, started as copies of the source's; with unlabelled target rows only the
        adaptation loss trains them.

    Attributes
    ----------
    n_source : int or None
        Leading rows of the current input that are source rows (set by ``domain_rows``).
    domain : {'target', 'source'}
        The domain of every row when ``n_source`` is None.

    Examples
    --------
    >>> layer = DomainBatchNorm(nn.BatchNorm1d(3))
    >>> x = torch.cat([torch.randn(4, 3), 5 + torch.randn(4, 3)])
    >>> layer.n_source = 4
    >>> out = layer(x)
    >>> bool(out[4:].mean(0).abs().max() < 1e-5)  # target rows centred by their own mean
    True
    """

    def __init__(self, norm: nn.BatchNorm1d | nn.BatchNorm2d, share_affine: bool = True) -> None:
        super().__init__()
        self.source = norm
        self.target = copy.deepcopy(norm)
        self.share_affine = share_affine
        if share_affine and norm.affine:
            self.target.weight, self.target.bias, self.target.affine = None, None, False
        self.n_source: int | None = None
        self.domain = "target"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.n_source is None:
            return self._normalise(x, self.domain)
        if self.n_source >= len(x):
            return self._normalise(x, "source")
        # One split, not two slices: its gradient is one concatenation, where each slice's would be a
        # zero-filled tensor of the whole batch (in the default layout, whatever the input's).
        source, target = x.split([self.n_source, len(x) - self.n_source])
        return torch.cat([self._normalise(source, "source"), self._normalise(target, "target")])

    def _normalise(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        if domain == "source" or not (self.share_affine and self.source.affine):
            return getattr(self, domain)(x)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return self.target(x) * self.source.weight.view(shape) + self.source.bias.view(shape)


def has_batchnorm(network: nn.Module) -> bool:
    """Whether ``network`` has a BatchNorm layer (1-D or 2-D) that domain BatchNorm would split."""
    return bool(_batchnorm_layers(network))


def _batchnorm_layers(network: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """Each plain BatchNorm layer of ``network`` (outside DomainBatchNorm layers): parent, name, layer."""
    return [
        (parent, name, child)
        for parent in network.modules()
        if not isinstance(parent, DomainBatchNorm)
        for name, child in parent.named_children()
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d))
    ]


def use_domain_batchnorm(network: nn.Module, share_affine: bool = True) -> nn.Module:
    """Replace every ``BatchNorm1d``/``BatchNorm2d`` of ``network``, in place, by a DomainBatchNorm.

    Each new layer keeps the original (its settings, parameters and statistics) as its source layer
    and a copy as its target layer. Subclasses of the two count (an ensemble's stacked BatchNorm).

    Parameters
    ----------
    network : torch.nn.Module
        The network.
    share_affine : bool
        Passed to each [`DomainBatchNorm`][sklens.nn.domain_norm.DomainBatchNorm].

    Returns
    -------
    torch.nn.Module
        ``network`` itself.

    Raises
    ------
    ValueError
        If ``network`` has no such layer (outside DomainBatchNorm layers), naming its class.

    Examples
    --------
    >>> from sklens.nn.networks import PaperCNN
    >>> net = use_domain_batchnorm(PaperCNN(image_size=(16, 16)))
    >>> sum(isinstance(m, DomainBatchNorm) for m in net.modules())
    3
    """
    found = _batchnorm_layers(network)
    if not found:
        raise ValueError(
            "domain_batchnorm=True on a network without BatchNorm layers: "
            f"{type(network).__name__} has no nn.BatchNorm1d or nn.BatchNorm2d layer whose statistics "
            "could be split by domain."
        )
    for parent, name, child in found:
        setattr(parent, name, DomainBatchNorm(child, share_affine))
    return network


@contextlib.contextmanager
def domain_rows(network: nn.Module, n_source: int | None = None, domain: str = "target") -> Iterator[None]:
    """Tell every DomainBatchNorm of ``network`` which rows of the inputs inside the block are which.

    Parameters
    ----------
    network : torch.nn.Module
        The network; one without DomainBatchNorm layers is left as it is.
    n_source : int or None
        The first ``n_source`` rows of every input are source rows, the others target rows. None:
        every row is from ``domain``.
    domain : {'target', 'source'}
        The domain of every row when ``n_source`` is None.

    Yields
    ------
    None
        The layers' previous settings are restored on leaving the block.

    Examples
    --------
    >>> from sklens.nn.networks import PaperCNN
    >>> net = use_domain_batchnorm(PaperCNN(image_size=(16, 16))).eval()
    >>> x = torch.randn(2, 1, 16, 16)
    >>> with domain_rows(net, domain="source"):
    ...     y = net(x)
    >>> y.shape
    torch.Size([2, 1])
    """
    if domain not in DOMAINS:
        raise ValueError(f"domain must be 'source' or 'target'; got {domain!r}.")
    layers = [m for m in network.modules() if isinstance(m, DomainBatchNorm)]
    before = [(layer.n_source, layer.domain) for layer in layers]
    for layer in layers:
        layer.n_source, layer.domain = n_source, domain
    try:
        yield
    finally:
        for layer, (n, d) in zip(layers, before, strict=True):
            layer.n_source, layer.domain = n, d
