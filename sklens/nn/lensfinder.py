"""The HOLISMOKES-style lens-finding CNN (Canameras et al. 2020; Ivashkov 2022), parametrised.

Three convolutions (ReLU; 2 x 2 stride-2 max pooling after the first two), dropout, then three fully
connected layers ending in one logit. With the defaults - kernels 11, 7, 3 with 32, 64, 128 filters,
'same' padding, hidden widths 900 and 900 - a 3-band 60 x 60 input gives 26,918,621 parameters, the
seed's "approximately 27 million"; almost all of them sit in the first fully connected layer
(128 * 15 * 15 inputs).

``invariance`` selects how 90-degree rotations are handled:

* ``None``: the plain network.
* ``'input'``: the first convolution is the seed's [`RotationalConv2d`][sklens.nn.rotation.RotationalConv2d].
  Its output is identical for all rotations of the input, so the network is exactly invariant.
* ``'group'``: a lifting convolution and two group convolutions keep one map per orientation,
  the orientations are max-pooled before the classifier, and the first fully connected layer is an
  [`OrbitMaxLinear`][sklens.nn.rotation.OrbitMaxLinear], which sees the spatial arrangement but is exactly
  invariant. The image size must be a multiple of 4 (two poolings) so that the pooling windows tile
  the maps symmetrically.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sklens._deprecation import renamed
from sklens.nn.rotation import (
    GroupConv2d,
    LiftingConv2d,
    OrbitMaxLinear,
    RotationalConv2d,
    group_max_pool2d,
    orientation_max,
)

INVARIANCES = (None, "input", "group")
N_POOLINGS = 2


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``.

    Examples
    --------
    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _pooled_size(image_size: int) -> int:
    size = image_size
    for _ in range(N_POOLINGS):
        size //= 2
    return size


def check_image_size(image_size: tuple[int, int], invariance: str | None) -> None:
    """Raise a ``ValueError`` if ``image_size`` (H, W) does not suit ``invariance``.

    Invariant networks need square images; the 'group' network also needs a side divisible by 4.
    Every network needs at least one pixel left after the two poolings.

    Examples
    --------
    >>> check_image_size((60, 60), "group")
    """
    height, width = image_size
    if invariance not in INVARIANCES:
        raise ValueError(f"invariance must be one of {INVARIANCES}; got {invariance!r}.")
    if min(height, width) < 2**N_POOLINGS:
        raise ValueError(f"images must be at least 4 x 4 pixels; got {height} x {width}.")
    if invariance is not None and height != width:
        raise ValueError(
            f"invariance={invariance!r} needs square images (rotations must map the image onto "
            f"itself); got {height} x {width}. Crop or pad the cutouts to a square first."
        )
    if invariance == "group" and height % 2**N_POOLINGS:
        raise ValueError(
            f"invariance='group' needs an image side divisible by {2**N_POOLINGS} so that both "
            f"2 x 2 poolings tile the maps symmetrically; got {height}. Crop or pad to e.g. "
            f"{height - height % 4} or {height + 4 - height % 4}."
        )


class LensFinderCNN(nn.Module):
    """HOLISMOKES-style CNN returning one lens logit per image.

    Parameters
    ----------
    in_channels : int
        Number of bands of the input.
    image_size : int or (int, int)
        Input height and width.
    n_filters : sequence of 3 int
        Filters of the three convolutions (per orientation in 'group' mode).
    kernel_sizes : sequence of 3 odd int
        Kernel sizes of the three convolutions ('same' padding).
    hidden : sequence of 2 int
        Widths of the first two fully connected layers; the third has one output.
    dropout : float
        Dropout probability before the first fully connected layer.
    invariance : {None, 'input', 'group'}
        Plain network, seed's rotational first layer, or group convolutions (see the module doc).
    group : {'C4', 'D4'}
        Rotations only, or rotations and flips (invariant modes only).
    n_channels : int, optional
        Deprecated spelling of ``in_channels``.
    n_hidden : sequence of 2 int, optional
        Deprecated spelling of ``hidden``.

    Examples
    --------
    >>> net = LensFinderCNN(3, 20, n_filters=(4, 4, 4), hidden=(8, 8), invariance="group")
    >>> net(torch.zeros(2, 3, 20, 20)).shape
    torch.Size([2, 1])
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int | tuple[int, int] = 60,
        n_filters: Sequence[int] = (32, 64, 128),
        kernel_sizes: Sequence[int] = (11, 7, 3),
        hidden: Sequence[int] = (900, 900),
        dropout: float = 0.5,
        invariance: str | None = None,
        group: str = "C4",
        *,
        n_channels: int | None = None,
        n_hidden: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        in_channels = renamed("LensFinderCNN", "n_channels", n_channels, "in_channels", in_channels, None)
        hidden = renamed("LensFinderCNN", "n_hidden", n_hidden, "hidden", hidden, None)
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        check_image_size(size, invariance)
        if len(n_filters) != 3 or len(kernel_sizes) != 3 or len(hidden) != 2:
            raise ValueError("n_filters and kernel_sizes need 3 entries and hidden 2.")
        self.invariance = invariance
        widths = (in_channels, *n_filters)
        flat_shape = (n_filters[2], _pooled_size(size[0]), _pooled_size(size[1]))
        if invariance == "group":
            self.convs = nn.ModuleList(
                [LiftingConv2d(in_channels, n_filters[0], kernel_sizes[0], group)]
                + [GroupConv2d(widths[i], widths[i + 1], kernel_sizes[i], group) for i in (1, 2)]
            )
            first_fc: nn.Module = OrbitMaxLinear(flat_shape, hidden[0], group)
        else:
            first = (
                RotationalConv2d(in_channels, n_filters[0], kernel_sizes[0], group)
                if invariance == "input"
                else nn.Conv2d(in_channels, n_filters[0], kernel_sizes[0], padding="same")
            )
            self.convs = nn.ModuleList(
                [first]
                + [nn.Conv2d(widths[i], widths[i + 1], kernel_sizes[i], padding="same") for i in (1, 2)]
            )
            first_fc = nn.Linear(flat_shape[0] * flat_shape[1] * flat_shape[2], hidden[0])
        self.dropout = nn.Dropout(dropout)
        self.fcs = nn.ModuleList([first_fc, nn.Linear(hidden[0], hidden[1])])
        self.output = nn.Linear(hidden[1], 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Convolutional part: ``(N, C, H, W)`` images to ``(N, n_filters[2], H/4, W/4)`` maps."""
        pool = group_max_pool2d if self.invariance == "group" else F.max_pool2d
        for i, conv in enumerate(self.convs):
            x = torch.relu(conv(x))
            if i < N_POOLINGS:
                x = pool(x, 2)
        return orientation_max(x) if self.invariance == "group" else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.features(x))
        if self.invariance != "group":
            h = h.flatten(1)
        for fc in self.fcs:
            h = torch.relu(fc(h))
        return self.output(h)
