"""Layers that make a CNN exactly invariant to 90-degree rotations (and optionally flips).

Two constructions are provided, both acting on square images through the symmetry group of the
square: ``'C4'`` (the four rotations by multiples of 90 degrees) or ``'D4'`` (those and their mirror
images, eight elements).

* [`RotationalConv2d`][sklens.nn.rotation.RotationalConv2d] is the rotational first layer of Ivashkov (2022):
  the *input* is transformed by every group element, convolved with one shared kernel, and the element-wise
  maximum is taken before the bias is added. Transforming the input by a group element only permutes
  the set of transformed inputs, so the layer's output - and hence everything computed from it - is
  invariant, not merely equivariant.
* [`LiftingConv2d`][sklens.nn.rotation.LiftingConv2d] and [`GroupConv2d`][sklens.nn.rotation.GroupConv2d] are
  group convolutions: they keep one feature map per group element (an "orientation" axis), and transforming
  the input transforms each map and cyclically permutes the orientation axis (equivariance).
  [`orientation_max`][sklens.nn.rotation.orientation_max] pools over that axis, leaving maps that rotate with
  the input, and [`OrbitMaxLinear`][sklens.nn.rotation.OrbitMaxLinear] turns such maps into an invariant
  vector while keeping their spatial arrangement.

Exactness in floating point
---------------------------
Rotating a kernel and convolving gives the rotated result only up to rounding, because the sums are
taken in a different order. The layers here therefore never rotate kernels: for each group element
``g`` they transform the *input* by ``g^-1``, convolve with the untransformed kernel and transform
the result back by ``g``. The convolution of a transformed input then sees bit for bit the same
numbers as the convolution of another group element for the untransformed input, so equivariance
(and the invariance built on it) holds exactly, bit for bit, in float32 as in float64.
Mathematically this is the same as convolving with the kernel transformed by ``g``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

GROUPS = ("C4", "D4")


class SquareGroup:
    """The rotation group C4 or the dihedral group D4 of the square, acting on the last two axes.

    Element ``i`` is the pair ``(flip, k)``: mirror the last axis when ``flip`` is true, then rotate
    by ``k`` quarter turns with [`torch.rot90`](https://pytorch.org/docs/stable/generated/torch.rot90.html).
    Element 0 is the identity.

    Parameters
    ----------
    name : {'C4', 'D4'}
        The group.

    Examples
    --------
    >>> group = SquareGroup("D4")
    >>> len(group), group.inverse[1]
    (8, 3)
    """

    def __init__(self, name: str = "C4") -> None:
        if name not in GROUPS:
            raise ValueError(f"group must be one of {GROUPS}; got {name!r}.")
        self.name = name
        flips = (False, True) if name == "D4" else (False,)
        self.elements = [(flip, k) for flip in flips for k in range(4)]
        n = len(self.elements)
        # The multiplication table is read off the action on an asymmetric probe, so it cannot
        # disagree with ``act``.
        probe = torch.arange(9.0, device="cpu").reshape(3, 3)
        images = [self.act(g, probe) for g in range(n)]

        def index_of(image: torch.Tensor) -> int:
            return next(i for i, other in enumerate(images) if torch.equal(image, other))

        self.compose = [[index_of(self.act(g, images[h])) for h in range(n)] for g in range(n)]
        self.inverse = [row.index(0) for row in self.compose]

    def __len__(self) -> int:
        return len(self.elements)

    def act(self, g: int, x: torch.Tensor) -> torch.Tensor:
        """Return element ``g`` applied to the last two (spatial) axes of ``x``, contiguous."""
        flip, k = self.elements[g]
        if flip:
            x = torch.flip(x, dims=(-1,))
        return torch.rot90(x, k, dims=(-2, -1)).contiguous()


def _check_odd(kernel_size: int) -> int:
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd so that 'same' padding is symmetric; got {kernel_size}.")
    return kernel_size // 2


def _conv_parameters(
    out_channels: int, in_channels: int, kernel_size: int
) -> tuple[nn.Parameter, nn.Parameter]:
    """Weight and bias initialised like ``torch.nn.Conv2d``'s."""
    weight = torch.empty(out_channels, in_channels, kernel_size, kernel_size)
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    bound = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
    bias = torch.empty(out_channels).uniform_(-bound, bound)
    return nn.Parameter(weight), nn.Parameter(bias)


class RotationalConv2d(nn.Module):
    """Seed's rotational convolution: max over the transformed inputs of one convolution, then bias.

    ``y = max_g conv(g x, W) + b`` over the group elements ``g``. Because ``{g h x}`` is the same
    set as ``{g x}`` for every group element ``h``, ``y`` is *identical* for all transformed
    versions of ``x`` (invariant feature maps, not rotating ones): a network that uses this layer
    first is exactly invariant whatever follows it. The price is that position ``p`` of ``y`` mixes
    the responses at the rotated positions ``g^-1 p`` of the original image.

    Parameters
    ----------
    in_channels : int
        Input channels.
    out_channels : int
        Output channels.
    kernel_size : int
        Odd kernel size; padding is ``kernel_size // 2`` (output size equals input size).
    group : {'C4', 'D4'}
        Rotations only (the seed's layer) or rotations and flips.

    Examples
    --------
    >>> layer = RotationalConv2d(3, 8, 5)
    >>> x = torch.randn(2, 3, 12, 12)
    >>> torch.equal(layer(x), layer(torch.rot90(x, 1, dims=(-2, -1))))
    True
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, group: str = "C4"):
        super().__init__()
        self.padding = _check_odd(kernel_size)
        self.group = SquareGroup(group)
        self.weight, self.bias = _conv_parameters(out_channels, in_channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_square(x)
        responses = [
            F.conv2d(self.group.act(g, x), self.weight, padding=self.padding) for g in range(len(self.group))
        ]
        return torch.stack(responses).amax(dim=0) + self.bias[:, None, None]


class LiftingConv2d(nn.Module):
    """Group convolution from an image to one feature map per group element.

    Input ``(N, C_in, H, W)``, output ``(N, C_out, |G|, H, W)`` with ``out[:, :, g] = g conv(g^-1 x,
    W) + b`` (equivalently, a convolution with the kernel transformed by ``g``). Transforming the
    input by ``h`` transforms every map by ``h`` and moves map ``g`` to position ``h g``, exactly.

    Parameters
    ----------
    in_channels : int
        Input channels.
    out_channels : int
        Output channels per group element.
    kernel_size : int
        Odd kernel size; 'same' padding.
    group : {'C4', 'D4'}
        The symmetry group.

    Examples
    --------
    >>> LiftingConv2d(3, 4, 3)(torch.randn(2, 3, 8, 8)).shape
    torch.Size([2, 4, 4, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, group: str = "C4"):
        super().__init__()
        self.padding = _check_odd(kernel_size)
        self.group = SquareGroup(group)
        self.weight, self.bias = _conv_parameters(out_channels, in_channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_square(x)
        group = self.group
        maps = [
            group.act(g, F.conv2d(group.act(group.inverse[g], x), self.weight, padding=self.padding))
            for g in range(len(group))
        ]
        return torch.stack(maps, dim=2) + self.bias[:, None, None, None]


class GroupConv2d(nn.Module):
    """Group convolution between feature maps that carry an orientation axis.

    Input ``(N, C_in, |G|, H, W)``, output ``(N, C_out, |G|, H, W)`` with
    ``out[:, :, g] = g conv([g^-1 x[:, :, g j] for j in G], W) + b``: the input orientations are
    re-indexed relative to ``g`` and all ``C_in * |G|`` maps enter one convolution. This is
    equivariant: ``h``-transformed input gives ``h``-transformed output with the orientation axis
    permuted by ``h``.

    Parameters
    ----------
    in_channels : int
        Input channels per group element.
    out_channels : int
        Output channels per group element.
    kernel_size : int
        Odd kernel size; 'same' padding.
    group : {'C4', 'D4'}
        The symmetry group.

    Examples
    --------
    >>> GroupConv2d(4, 2, 3)(torch.randn(2, 4, 4, 8, 8)).shape
    torch.Size([2, 2, 4, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, group: str = "C4"):
        super().__init__()
        self.padding = _check_odd(kernel_size)
        self.group = SquareGroup(group)
        n = len(self.group)
        self.weight, self.bias = _conv_parameters(out_channels, in_channels * n, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        group = self.group
        n_batch, n_channels, n_group, height, width = x.shape
        if n_group != len(group):
            raise ValueError(f"expected {len(group)} orientations on axis 2; got {n_group}.")
        maps = []
        for g in range(n_group):
            order = torch.tensor(group.compose[g], device=x.device)
            relative = group.act(group.inverse[g], x.index_select(2, order))
            stacked = relative.reshape(n_batch, n_channels * n_group, height, width)
            maps.append(group.act(g, F.conv2d(stacked, self.weight, padding=self.padding)))
        return torch.stack(maps, dim=2) + self.bias[:, None, None, None]


def orientation_max(x: torch.Tensor) -> torch.Tensor:
    """Pool ``(N, C, |G|, H, W)`` group features over the orientation axis to ``(N, C, H, W)``.

    The result transforms like an image: it rotates (and flips) with the network input.

    Examples
    --------
    >>> orientation_max(torch.zeros(2, 3, 4, 5, 5)).shape
    torch.Size([2, 3, 5, 5])
    """
    return x.amax(dim=2)


def group_max_pool2d(x: torch.Tensor, kernel_size: int = 2) -> torch.Tensor:
    """Spatial max pooling of ``(N, C, |G|, H, W)`` group features, each orientation separately.

    Equivariance survives only when the windows tile the map symmetrically: ``H`` and ``W`` must be
    multiples of ``kernel_size``.

    Examples
    --------
    >>> group_max_pool2d(torch.zeros(2, 3, 4, 8, 8)).shape
    torch.Size([2, 3, 4, 4, 4])
    """
    n_batch, n_channels, n_group, height, width = x.shape
    if height % kernel_size or width % kernel_size:
        raise ValueError(
            f"group feature maps of size {height}x{width} cannot be max-pooled by {kernel_size} "
            "without breaking the symmetry; use an image size divisible by the total pooling "
            "factor."
        )
    pooled = F.max_pool2d(x.reshape(n_batch, n_channels * n_group, height, width), kernel_size)
    return pooled.reshape(n_batch, n_channels, n_group, *pooled.shape[-2:])


class OrbitMaxLinear(nn.Module):
    """Fully connected layer made invariant by a maximum over the transformed copies of its input.

    ``y = max_g (W vec(g h)) + b`` for a stack of square maps ``h`` of shape ``(N, C, S, S)`` that
    transform with the network input (e.g. after [`orientation_max`][sklens.nn.rotation.orientation_max]).
    Transforming ``h`` only permutes the copies, so ``y`` is exactly invariant while ``W`` still sees the full
    spatial arrangement of ``h`` (a symmetrised weight or a global spatial pooling would lose it). The cost
    is ``|G|`` matrix products instead of one; the parameter count is that of an ordinary linear
    layer.

    Parameters
    ----------
    in_shape : tuple of int
        ``(C, S, S)`` of one input sample.
    out_features : int
        Output width.
    group : {'C4', 'D4'}
        The symmetry group.

    Examples
    --------
    >>> layer = OrbitMaxLinear((2, 4, 4), 5)
    >>> h = torch.randn(3, 2, 4, 4)
    >>> torch.equal(layer(h), layer(torch.rot90(h, 1, dims=(-2, -1))))
    True
    """

    def __init__(self, in_shape: tuple[int, int, int], out_features: int, group: str = "C4"):
        super().__init__()
        if in_shape[-1] != in_shape[-2]:
            raise ValueError(f"OrbitMaxLinear needs square maps; got shape {tuple(in_shape)}.")
        self.group = SquareGroup(group)
        self.linear = nn.Linear(math.prod(in_shape), out_features)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        responses = [
            F.linear(self.group.act(g, h).flatten(1), self.linear.weight) for g in range(len(self.group))
        ]
        return torch.stack(responses).amax(dim=0) + self.linear.bias


def _check_square(x: torch.Tensor) -> None:
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotation-invariant layers need square images; got {x.shape[-2]}x{x.shape[-1]}.")
