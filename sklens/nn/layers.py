"""Layers for domain adaptation."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, coefficient: float) -> torch.Tensor:
        ctx.coefficient = coefficient
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.coefficient * grad_output, None


def reverse_gradient(x: torch.Tensor, coefficient: float = 1.0) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient by ``-coefficient`` in the backward pass."""
    return _ReverseGradient.apply(x, coefficient)


class GradientReversal(nn.Module):
    """The gradient reversal layer of Ganin et al. (2016).

    The forward pass is the identity; the backward pass multiplies the gradient by ``-coefficient``.
    ``coefficient`` is a plain attribute so a schedule (see
    [`sklens.callbacks.ReversalSchedule`][sklens.callbacks.ReversalSchedule]) can change it between steps.

    Examples
    --------
    >>> x = torch.ones(3, requires_grad=True)
    >>> GradientReversal(0.5)(x).sum().backward()
    >>> x.grad
    tensor([-0.5000, -0.5000, -0.5000])
    """

    def __init__(self, coefficient: float = 1.0) -> None:
        super().__init__()
        self.coefficient = coefficient

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.coefficient)

    def extra_repr(self) -> str:
        return f"coefficient={self.coefficient}"


class _ChannelsLastMaxPool(torch.autograd.Function):
    """Max pooling computed on a channels-last copy; input, output and gradients keep the default layout."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode):
        x_cl = x.contiguous(memory_format=torch.channels_last)
        out, indices = torch.ops.aten.max_pool2d_with_indices(
            x_cl, kernel_size, stride, padding, dilation, ceil_mode
        )
        ctx.save_for_backward(x_cl, indices)
        ctx.args = (kernel_size, stride, padding, dilation, ceil_mode)
        return out.contiguous()

    @staticmethod
    def backward(ctx, grad_out):
        x_cl, indices = ctx.saved_tensors
        grad = torch.ops.aten.max_pool2d_with_indices_backward(
            grad_out.contiguous(memory_format=torch.channels_last), x_cl, *ctx.args, indices
        )
        return grad.contiguous(), None, None, None, None, None


class MaxPool2d(nn.MaxPool2d):
    """``torch.nn.MaxPool2d`` that pools CPU tensors in channels-last memory.

    PyTorch's CPU max-pooling kernels are about ten times faster on channels-last memory than on the
    default layout for the paper's feature maps (forward 35 ms against 3 ms for 64 x 80 x 40 x 40 on
    two threads); converting there and back, the pooling and the BatchNorm before it train 1.7 times
    faster. A maximum is exact, so the values and the gradients are those of ``torch.nn.MaxPool2d``
    bit for bit, in the default layout. Other devices pool as ``torch.nn.MaxPool2d``.

    Examples
    --------
    >>> x = torch.randn(2, 3, 8, 8)
    >>> bool(torch.equal(MaxPool2d(2)(x), nn.MaxPool2d(2)(x)))
    True
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.device.type != "cpu"
            or x.dim() != 4
            or self.return_indices
            or x.is_contiguous(memory_format=torch.channels_last)  # already fast: pool it as it is
        ):
            return super().forward(x)
        pair = nn.modules.utils._pair
        return _ChannelsLastMaxPool.apply(
            x,
            pair(self.kernel_size),
            pair(self.stride if self.stride is not None else self.kernel_size),
            pair(self.padding),
            pair(self.dilation),
            self.ceil_mode,
        )


class FeatureNorm(nn.Module):
    """Standardise each row's feature vector over its features: ``LayerNorm`` without a learned scale.

    Every row leaves with mean 0 and variance 1 over its last axis, so its norm is ``sqrt(n_features)``
    whatever the input's brightness. A ReLU network's features otherwise grow with the image's flux,
    and the brightest images, rare in training, reach norms far outside the bulk's, where the head
    extrapolates and an MMD kernel whose bandwidth is the batch's mean distance stops seeing the bulk
    (docs/studies/mmd-outliers.md, docs/studies/feature-norm.md). Parameter-free, so it acts on (B, d) and on
    an ensemble's (B, K, d) alike.

    Parameters
    ----------
    eps : float
        Added to the variance.

    Examples
    --------
    >>> x = torch.tensor([[1.0, 2.0, 3.0], [100.0, 200.0, 300.0]])
    >>> FeatureNorm()(x)
    tensor([[-1.2247,  0.0000,  1.2247],
            [-1.2247,  0.0000,  1.2247]])
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.layer_norm(x, x.shape[-1:], eps=self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


def feature_norm_layers(feature_norm: bool) -> list[nn.Module]:
    """The layers that end a feature extractor: ``[FeatureNorm()]`` when asked, else none.

    Parameters
    ----------
    feature_norm : bool
        Whether to end the feature extractor with [`FeatureNorm`][sklens.nn.layers.FeatureNorm].

    Returns
    -------
    list of torch.nn.Module
        The layers to append.

    Examples
    --------
    >>> feature_norm_layers(True)
    [FeatureNorm(eps=1e-05)]
    >>> feature_norm_layers(np.False_)
    []
    """
    if not isinstance(feature_norm, bool | np.bool_):
        raise TypeError(f"feature_norm must be True or False, got {feature_norm!r}.")
    return [FeatureNorm()] if feature_norm else []
