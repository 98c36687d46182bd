"""Layers for domain adaptation."""

from __future__ import annotations

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
