"""Ensembles trained in one pass: K networks of one architecture as one vectorised network.

[`stack_networks`][sklens.nn.ensemble.stack_networks] turns K independently initialised networks
into one module whose layers hold the K members side by side: convolutions become grouped
convolutions (member k owns group k), BatchNorm keeps one set of statistics per member's channels,
linear layers become batched matrix products. Every member computes exactly what it would alone, in
one pass over the data. Networks built of other layers are stacked as a plain list of members
([`MemberList`][sklens.nn.ensemble.MemberList]), computed one after the other: the same results,
without the speed.

Inputs carry a member axis, (B, K, *row): member k sees its own batch ``x[:, k]``. An input without it,
(B, *row), is shown to every member. Both kinds of stacked network return (B, K, n_outputs) from
``forward`` and ((B, K, n_features), (B, K, n_outputs)) from ``forward_features``.

A single model is the ensemble of one member: [`stack_networks`][sklens.nn.ensemble.stack_networks]
returns one network as it is, and [`forward_members`][sklens.nn.ensemble.forward_members] gives any
network, stacked or not, the member axis, so that one training step serves both.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import torch
from torch import nn

from sklens.nn.layers import FeatureNorm
from sklens.nn.tap import tap_features

__all__ = [
    "BatchedLinear",
    "MemberFlatten",
    "MemberList",
    "MemberLosses",
    "MemberNetwork",
    "StackedNetwork",
    "forward_members",
    "stack_networks",
]


class BatchedLinear(nn.Module):
    """K linear layers applied to (B, K, in_features), member k's rows by member k's weights.

    Parameters
    ----------
    layers : sequence of torch.nn.Linear
        One layer per member, all of the same shape.
    """

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]).clone())
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.baddbmm(self.bias.unsqueeze(1), x.transpose(0, 1), self.weight.transpose(1, 2))
        return out.transpose(0, 1)

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        return {"weight": self.weight[k], "bias": self.bias[k]}


class MemberFlatten(nn.Module):
    """(B, K * C, H, W) maps to (B, K, C * H * W): each member's channels flattened as ``nn.Flatten``."""

    def __init__(self, n_members: int) -> None:
        super().__init__()
        self.n_members = n_members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.n_members, -1)

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        return {}


class _GroupedSlices:
    """Member k's slice of a layer whose channels are the members' channels side by side."""

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        state = {}
        for name, tensor in (*self.named_parameters(recurse=False), *self.named_buffers(recurse=False)):
            if tensor.dim() == 0:  # BatchNorm's step counter, the same for every member
                state[name] = tensor
            else:
                width = tensor.shape[0] // self.n_members
                state[name] = tensor[k * width : (k + 1) * width]
        return state


class GroupedConv2d(_GroupedSlices, nn.Conv2d):
    """K convolutions as one grouped convolution: member k's input and output channels form group k."""


class StackedBatchNorm2d(_GroupedSlices, nn.BatchNorm2d):
    """K BatchNorm layers as one over the members' channels side by side (statistics stay per member)."""


def _grouped_conv(layers: Sequence[nn.Conv2d]) -> GroupedConv2d:
    first = layers[0]
    if first.groups != 1 or first.padding_mode != "zeros":
        raise _NotStackable(f"{first}")
    k = len(layers)
    conv = GroupedConv2d(
        first.in_channels * k,
        first.out_channels * k,
        first.kernel_size,
        stride=first.stride,
        padding=first.padding,
        dilation=first.dilation,
        groups=k,
        bias=first.bias is not None,
    )
    conv.n_members = k
    with torch.no_grad():
        conv.weight.copy_(torch.cat([layer.weight for layer in layers]))
        if first.bias is not None:
            conv.bias.copy_(torch.cat([layer.bias for layer in layers]))
    return conv


def _stacked_batchnorm(layers: Sequence[nn.BatchNorm2d]) -> StackedBatchNorm2d:
    first = layers[0]
    if not (first.affine and first.track_running_stats):
        raise _NotStackable(f"{first}")
    k = len(layers)
    norm = StackedBatchNorm2d(first.num_features * k, eps=first.eps, momentum=first.momentum)
    norm.n_members = k
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(norm, name).copy_(torch.cat([getattr(layer, name) for layer in layers]))
        norm.num_batches_tracked.copy_(first.num_batches_tracked)
    return norm


class _NotStackable(Exception):
    """A layer that has no vectorised form here; the networks are stacked as a MemberList instead."""


_STATELESS = (nn.ReLU, nn.MaxPool2d, nn.Identity, FeatureNorm)  # sklens's MaxPool2d is one


def _stack_layers(layers: Sequence[nn.Module]) -> nn.Module:
    first = layers[0]
    if any(type(layer) is not type(first) for layer in layers):
        raise _NotStackable("members differ")
    if type(first) is nn.Sequential:
        return nn.Sequential(*(_stack_layers([layer[i] for layer in layers]) for i in range(len(first))))
    if type(first) is nn.Conv2d:
        return _grouped_conv(layers)
    if type(first) is nn.BatchNorm2d:
        return _stacked_batchnorm(layers)
    if type(first) is nn.Linear and first.bias is not None:
        return BatchedLinear(layers)
    if type(first) is nn.Flatten and first.start_dim == 1 and first.end_dim == -1:
        return MemberFlatten(len(layers))
    if isinstance(first, _STATELESS) and not list(first.parameters()):
        return first
    raise _NotStackable(f"{type(first).__name__}")


class MemberNetwork(nn.Module, abc.ABC):
    """The interface of K stacked networks: ``forward_features`` and ``member_state_dict``."""

    n_members: int

    @abc.abstractmethod
    def forward_features(self, x: torch.Tensor, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        """The features (B, K, n_features) and outputs (B, K, n_outputs) of (B, K, *row) or (B, *row)."""

    @abc.abstractmethod
    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's parameters and buffers, named as in one of the networks that were stacked."""

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.forward_features(x, **kwargs)[1]


class StackedNetwork(MemberNetwork):
    """K networks with ``features`` and ``head`` sub-modules, vectorised over the members.

    Made by [`stack_networks`][sklens.nn.ensemble.stack_networks]; see the module's description for
    the layouts.
    """

    def __init__(self, features: nn.Module, head: nn.Module, n_members: int, row_ndim: int) -> None:
        super().__init__()
        self.features = features
        self.head = head
        self.n_members = n_members
        self.row_ndim = row_ndim

    def forward_features(self, x: torch.Tensor, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        if kwargs:
            raise TypeError(
                f"the stacked sklens networks take no arguments besides the input; got {sorted(kwargs)}."
            )
        x = with_member_axis(x, self.n_members, self.row_ndim)
        if self.row_ndim == 3:  # (B, K, C, H, W): members' channels side by side for the convolutions
            x = x.reshape(x.shape[0], -1, *x.shape[3:])
        features = self.features(x)
        return features, self.head(features)

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's parameters and buffers, named as in one of the networks that were stacked."""
        state = {}
        for name, module in self.named_modules():
            if hasattr(module, "member_state"):
                prefix = f"{name}." if name else ""
                state.update({prefix + key: value for key, value in module.member_state(k).items()})
        return state


class MemberList(MemberNetwork):
    """K networks of any kind, computed one after the other, with the interface of a StackedNetwork.

    Parameters
    ----------
    members : sequence of torch.nn.Module
        The networks.
    feature_layer : str
        The sub-module of each network whose output is its feature vector.
    row_ndim : int
        Dimensions of one input row (3 for images, 1 for tables).
    """

    def __init__(self, members: Sequence[nn.Module], feature_layer: str, row_ndim: int) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.feature_layer = feature_layer
        self.n_members = len(members)
        self.row_ndim = row_ndim

    def forward_features(self, x: torch.Tensor, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        x = with_member_axis(x, self.n_members, self.row_ndim)
        features, outputs = [], []
        for k, member in enumerate(self.members):
            with tap_features(member, self.feature_layer) as tapped:
                outputs.append(member(x[:, k], **kwargs))
            features.append(tapped[0])
        return torch.stack(features, dim=1), torch.stack(outputs, dim=1)

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's parameters and buffers."""
        return self.members[k].state_dict()


def with_member_axis(x: torch.Tensor, n_members: int, row_ndim: int) -> torch.Tensor:
    """Return ``x`` as (B, K, *row): an input without the member axis is shown to every member."""
    if x.dim() == row_ndim + 1:
        return x.unsqueeze(1).expand(-1, n_members, *x.shape[1:])
    if x.dim() != row_ndim + 2 or x.shape[1] != n_members:
        raise ValueError(
            f"expected inputs of shape (B, {n_members}, *row) or (B, *row) with {row_ndim}-D rows; "
            f"got {tuple(x.shape)}."
        )
    return x


def forward_members(
    network: nn.Module, x: torch.Tensor, feature_layer: str, **kwargs
) -> tuple[torch.Tensor, torch.Tensor]:
    """The features and outputs of ``network`` for (B, K, *row) inputs, with the member axis.

    A stacked network (a [`MemberNetwork`][sklens.nn.ensemble.MemberNetwork], compiled or not)
    computes its members side by side; any other network is the ensemble of one member: it gets
    ``x[:, 0]`` and its feature layer's output is read with
    [`tap_features`][sklens.nn.tap.tap_features].

    Parameters
    ----------
    network : torch.nn.Module
        A network made by `stack_networks`, or one network (K = 1).
    x : torch.Tensor of shape (B, K, *row)
        Each member's rows.
    feature_layer : str
        The sub-module whose output is the feature vector of a network that is not stacked.
    **kwargs
        Passed on to the network's forward pass.

    Returns
    -------
    features : torch.Tensor of shape (B, K, n_features)
    outputs : torch.Tensor of shape (B, K, n_outputs)

    Examples
    --------
    >>> from sklens.nn.networks import PaperCNN
    >>> net = PaperCNN(image_size=(16, 16))
    >>> features, outputs = forward_members(net, torch.zeros(5, 1, 1, 16, 16), "features")
    >>> features.shape, outputs.shape
    (torch.Size([5, 1, 128]), torch.Size([5, 1, 1]))
    """
    if isinstance(getattr(network, "_orig_mod", network), MemberNetwork):  # torch.compile's wrapper
        return network.forward_features(x, **kwargs)
    with tap_features(network, feature_layer) as tapped:
        outputs = network(x[:, 0], **kwargs)
    return tapped[0].unsqueeze(1), outputs.unsqueeze(1)


def stack_networks(networks: Sequence[nn.Module], feature_layer: str, row_ndim: int) -> nn.Module:
    """Stack K networks of one architecture into one module that trains them side by side.

    One network is returned as it is (the ensemble of one member). Networks with ``features`` and
    ``head`` sub-modules built of ``Sequential``, ``Conv2d``, ``BatchNorm2d``, ``Linear``, ``ReLU``,
    ``MaxPool2d``, ``Flatten`` and ``FeatureNorm`` (the sklens networks) become a vectorised
    [`StackedNetwork`][sklens.nn.ensemble.StackedNetwork]; any other network, a
    [`MemberList`][sklens.nn.ensemble.MemberList].

    Parameters
    ----------
    networks : sequence of torch.nn.Module
        The members, each initialised as it would be alone.
    feature_layer : str
        The sub-module whose output is the feature vector.
    row_ndim : int
        Dimensions of one input row: 3 for (C, H, W) images, 1 for (n_features,) rows.

    Returns
    -------
    torch.nn.Module
        A StackedNetwork or a MemberList; the network itself when there is one.

    Examples
    --------
    >>> from sklens.nn.networks import PaperCNN
    >>> nets = [PaperCNN(image_size=(16, 16)) for _ in range(3)]
    >>> stacked = stack_networks(nets, "features", row_ndim=3)
    >>> _ = nets[1].eval(), stacked.eval()
    >>> type(stacked).__name__, stacked(torch.zeros(5, 1, 16, 16)).shape
    ('StackedNetwork', torch.Size([5, 3, 1]))
    >>> x = torch.randn(4, 1, 16, 16)
    >>> bool(torch.allclose(stacked(x)[:, 1], nets[1](x), atol=1e-6))
    True
    """
    networks = list(networks)
    if len(networks) == 1:
        return networks[0]
    if feature_layer == "features" and all(hasattr(n, "features") and hasattr(n, "head") for n in networks):
        try:
            stacked = StackedNetwork(
                _stack_layers([n.features for n in networks]),
                _stack_layers([n.head for n in networks]),
                len(networks),
                row_ndim,
            )
        except _NotStackable:
            pass
        else:  # the members' memory layout (PaperCNN's channels_last)
            if getattr(networks[0], "channels_last", False):
                stacked.to(memory_format=torch.channels_last)
            return stacked
    return MemberList(networks, feature_layer, row_ndim)


class MemberLosses(nn.Module):
    """One adaptation loss per member, applied to each member's features.

    Parameters
    ----------
    losses : sequence of torch.nn.Module
        The members' losses, each called as ``loss(features_src, features_tgt)``.
    """

    def __init__(self, losses: Sequence[nn.Module]) -> None:
        super().__init__()
        self.losses = nn.ModuleList(losses)

    @property
    def min_rows(self) -> int:
        """The most rows any member's loss needs."""
        return max(getattr(loss, "min_rows", 1) for loss in self.losses)

    def forward(self, features_src: torch.Tensor, features_tgt: torch.Tensor) -> torch.Tensor:
        """Each member's loss, shape (K,), from (B, K, n_features) source and target features."""
        return torch.stack(
            [loss(features_src[:, k], features_tgt[:, k]) for k, loss in enumerate(self.losses)]
        )
