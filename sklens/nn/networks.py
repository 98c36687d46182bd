"""Networks for Einstein-radius regression.

Every network here has a ``features`` sub-module (the feature extractor whose output domain adaptation
aligns) and a ``head`` sub-module (the task head), so estimators can tap the features by name.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from numbers import Integral

import torch
from torch import nn

from sklens.nn.layers import MaxPool2d, feature_norm_layers


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Conv 3x3 (same padding) -> ReLU -> BatchNorm -> MaxPool 2x2, the block of the paper's Table 2."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(out_channels),
        MaxPool2d(2),
    )


def mlp(n_in: int, hidden: Sequence[int], n_out: int) -> nn.Sequential:
    """Linear layers with ReLU between them, ending in a linear layer of ``n_out`` units."""
    sizes = [n_in, *hidden]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], n_out))
    return nn.Sequential(*layers)


class PaperCNN(nn.Module):
    """The CNN of Table 2 of Swierc et al. (2023).

    Three blocks Conv3x3 -> ReLU -> BatchNorm -> MaxPool2 with 8, 16 and 32 filters, flattened (800
    features for a 40 x 40 input), then Linear(800, 128) -> ReLU -> Linear(128, n_outputs).

    Parameters
    ----------
    in_channels : int
        Number of bands.
    image_size : tuple of int
        (H, W) of the input images.
    n_outputs : int
        Number of regression targets.
    widths : sequence of int
        Filters of the convolution blocks.
    hidden : sequence of int
        Units of the head's hidden linear layers (one layer of 128), as for
        [`MLPRegressorNet`][sklens.nn.networks.MLPRegressorNet] (``module__hidden=(64,)`` on an
        estimator). An int is read as one layer.

        .. deprecated:: 1.0
            An int: give a sequence, ``(n,)``; an int is refused from 1.1.
    feature_norm : bool
        End the feature extractor with [`FeatureNorm`][sklens.nn.layers.FeatureNorm]: each image's
        feature vector standardised over its features, so bright images cannot reach feature norms
        far outside the bulk's (what domain adaptation aligns and the head reads).
    channels_last : bool
        Keep the convolutions' weights in channels-last memory, so that the convolutions, BatchNorm
        and max pooling compute in that layout (a 4-D weight keeps its layout when the network moves
        to another device). On the CPU their kernels are faster there: the sklens regressors train
        1.2 to 1.25 times as fast on one thread (docs/performance.md). The values are the same up to
        float rounding (the convolutions take another algorithm); False computes in PyTorch's
        default layout, as sklens did before. An optimiser that flattens the weights with ``view``
        (``torch.optim.LBFGS``) needs False (``module__channels_last=False`` on an estimator).

    Attributes
    ----------
    channels_last : bool
        As given.

    Examples
    --------
    >>> net = PaperCNN(in_channels=1, image_size=(40, 40))
    >>> net(torch.zeros(2, 1, 40, 40)).shape
    torch.Size([2, 1])
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: tuple[int, int] = (40, 40),
        n_outputs: int = 1,
        widths: Sequence[int] = (8, 16, 32),
        hidden: Sequence[int] = (128,),
        feature_norm: bool = False,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(hidden, Integral):
            warnings.warn(
                f"PaperCNN(hidden={hidden}): hidden is a sequence of layer sizes since sklens 1.0, as for "
                f"the MLP; an int is refused from 1.1. Use hidden=({hidden},).",
                FutureWarning,
                stacklevel=2,
            )
            hidden = (hidden,)
        if min(image_size) < 2 ** len(widths):
            raise ValueError(
                f"image_size {tuple(image_size)} is too small for {len(widths)} 2x2 poolings; "
                f"each side needs at least {2 ** len(widths)} pixels."
            )
        channels = [in_channels, *widths]
        self.features = nn.Sequential(
            *(conv_block(a, b) for a, b in zip(channels[:-1], channels[1:], strict=True)),
            nn.Flatten(),
            *feature_norm_layers(feature_norm),
        )
        n_features = self.features(torch.zeros(1, in_channels, *image_size)).shape[1]
        self.head = mlp(n_features, list(hidden), n_outputs)
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MLPRegressorNet(nn.Module):
    """A multilayer perceptron for catalogue-level (n_samples, n_features) data.

    ``features`` is all hidden layers but the last, ``head`` is the last hidden layer and the output.

    Parameters
    ----------
    n_inputs : int
        Number of input features.
    n_outputs : int
        Number of regression targets.
    hidden : sequence of int
        Hidden layer sizes; the feature extractor's output has ``hidden[-1]`` units.
    feature_norm : bool
        End the feature extractor with [`FeatureNorm`][sklens.nn.layers.FeatureNorm] (as in
        [`PaperCNN`][sklens.nn.networks.PaperCNN]).

    Examples
    --------
    >>> MLPRegressorNet(5)(torch.zeros(3, 5)).shape
    torch.Size([3, 1])
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int = 1,
        hidden: Sequence[int] = (64, 64),
        feature_norm: bool = False,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("hidden must name at least one layer size.")
        norm = feature_norm_layers(feature_norm)
        self.features = nn.Sequential(mlp(n_inputs, list(hidden[:-1]), hidden[-1]), nn.ReLU(), *norm)
        self.head = nn.Linear(hidden[-1], n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class DomainClassifier(nn.Sequential):
    """The domain head of DANN: the task head's two linear layers repeated, ending in 2 logits.

    Softmax plus NLL on its output is ``torch.nn.functional.cross_entropy`` on the logits.
    """

    def __init__(self, n_features: int, hidden: int = 128) -> None:
        super().__init__(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def default_network(input_shape: Sequence[int], n_outputs: int = 1, **kwargs) -> nn.Module:
    """The network sklens uses when ``module=None``: the paper's CNN for images, an MLP for tables."""
    if len(input_shape) == 3:
        channels, height, width = input_shape
        return PaperCNN(in_channels=channels, image_size=(height, width), n_outputs=n_outputs, **kwargs)
    if len(input_shape) == 1:
        return MLPRegressorNet(n_inputs=input_shape[0], n_outputs=n_outputs, **kwargs)
    raise ValueError(f"no default network for inputs of shape {tuple(input_shape)}.")
