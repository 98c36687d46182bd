"""Reading a network's features: the output of one named sub-module, recorded during a forward pass.

Domain adaptation aligns the features of a source and a target batch. Networks here expose them as a
sub-module (``features`` for sklens networks); [`tap_features`][sklens.nn.tap.tap_features] records
that sub-module's output, flattened to (n, n_features), without changing the network's ``forward``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import torch
from torch import nn

__all__ = ["evaluation_mode", "module_device", "probe_widths", "tap_features"]


def _feature_module(network: nn.Module, layer: str) -> nn.Module:
    try:
        return network.get_submodule(layer)
    except AttributeError as exc:
        names = [name for name, _ in network.named_modules() if name]
        raise ValueError(
            f"feature_layer={layer!r} is not a sub-module of the network; "
            f"its sub-modules are {names[:12]}{' ...' if len(names) > 12 else ''}."
        ) from exc


@contextlib.contextmanager
def tap_features(network: nn.Module, layer: str) -> Iterator[list[torch.Tensor]]:
    """Record, while active, the output of ``network``'s sub-module ``layer``, flattened to 2-D.

    Parameters
    ----------
    network : torch.nn.Module
        The network.
    layer : str
        Dotted name of the sub-module, as in ``network.get_submodule``.

    Yields
    ------
    list of torch.Tensor
        One (n, n_features) tensor per forward pass made inside the block.

    Examples
    --------
    >>> from sklens.nn.networks import PaperCNN
    >>> net = PaperCNN(image_size=(16, 16))
    >>> with tap_features(net, "features") as tapped:
    ...     _ = net(torch.zeros(3, 1, 16, 16))
    >>> tapped[0].shape
    torch.Size([3, 128])
    """
    tapped: list[torch.Tensor] = []
    handle = _feature_module(network, layer).register_forward_hook(
        lambda module, inputs, output: tapped.append(output.flatten(1))
    )
    try:
        yield tapped
    finally:
        handle.remove()


@contextlib.contextmanager
def evaluation_mode(network: nn.Module) -> Iterator[None]:
    """Run the block with ``network`` in evaluation mode, then give it back the mode it had."""
    was_training = network.training
    network.eval()
    try:
        yield
    finally:
        network.train(was_training)


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter or buffer (the CPU for a module without any)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def probe_widths(network: nn.Module, layer: str, input_shape: Sequence[int]) -> tuple[int, int]:
    """The widths of ``layer``'s features and of the network's output for one input of ``input_shape``.

    The probe is made on the network's own device, wherever it is at the time, and the network's
    training mode is restored afterwards.

    Examples
    --------
    >>> from sklens.nn.networks import PaperCNN
    >>> probe_widths(PaperCNN(image_size=(40, 40), n_outputs=2), "features", (1, 40, 40))
    (800, 2)
    """
    probe = torch.zeros(2, *input_shape, device=module_device(network))
    with evaluation_mode(network), torch.no_grad(), tap_features(network, layer) as tapped:
        output = network(probe)
    return tapped[0].shape[1], output.flatten(1).shape[1]


def feature_dimension(network: nn.Module, layer: str, input_shape: Sequence[int]) -> int:
    """The width of ``layer``'s features for one input of ``input_shape``.

    .. deprecated:: 1.0
        Use ``probe_widths(network, layer, input_shape)[0]``; removed in 1.1.
    """
    warnings.warn(
        "sklens.nn.tap.feature_dimension is deprecated since 1.0 and will be removed in 1.1: use "
        "probe_widths(network, layer, input_shape)[0].",
        FutureWarning,
        stacklevel=2,
    )
    return probe_widths(network, layer, input_shape)[0]
