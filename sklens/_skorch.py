"""Behaviour shared by every sklens skorch net: automatic device choice and seeded training."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np
import torch

from sklens._validation import check_random_state_seed, resolve_device


class ParameterValidationMixin:
    """Check the estimator's parameters against ``_parameter_constraints`` (scikit-learn's machinery).

    ``fit`` calls ``_validate_params`` first, so a bad value raises a ``ValueError`` naming the
    parameter before any work.
    """

    _parameter_constraints: dict = {}

    def _validate_params(self) -> None:
        from sklearn.utils._param_validation import validate_parameter_constraints

        validate_parameter_constraints(
            self._parameter_constraints, self.get_params(deep=False), caller_name=type(self).__name__
        )


class AutoDeviceMixin:
    """Let a skorch net take ``device='auto'``.

    The parameter keeps the value the user gave (so ``get_params``, ``clone`` and GridSearchCV see
    ``'auto'``), while skorch, which reads ``self.device`` when it moves modules and tensors, gets the
    concrete device: CUDA when available, else the CPU. A model pickled on a GPU machine with
    ``device='auto'`` loads on a CPU-only machine without warnings.
    """

    @property
    def device(self) -> str:
        return resolve_device(self.__dict__.get("device", "auto"))

    @device.setter
    def device(self, value) -> None:
        self.__dict__["device"] = value

    def get_params(self, deep: bool = True) -> dict:
        params = super().get_params(deep=deep)
        params["device"] = self.__dict__.get("device", "auto")
        return params

    def __setstate__(self, state: dict) -> None:
        requested = state.get("device", "auto")
        if requested in (None, "auto"):
            state["device"] = resolve_device(requested)
            super().__setstate__(state)
            self.__dict__["device"] = requested
        else:
            super().__setstate__(state)


@contextlib.contextmanager
def seeded_torch(random_state, device="cpu", stream: int = 0) -> Iterator[None]:
    """Run the block with torch's generators for the CPU and ``device`` seeded from ``random_state``.

    Only the CPU generator and, for a CUDA ``device``, that one GPU's generator are seeded; their states
    are restored afterwards, so seeding a model never changes the random stream of the surrounding
    program nor of any other GPU. With ``random_state=None`` nothing is seeded or restored.

    Parameters
    ----------
    random_state : None, int or numpy.random.RandomState
        The seed.
    device : str or torch.device
        The device the model trains on.
    stream : int
        Selects an independent stream of the same seed; 0 is the seed itself. ``partial_fit`` passes
        the number of epochs already trained, so that successive calls do not replay one another.
    """
    seed = check_random_state_seed(random_state)
    if seed is None:
        yield
        return
    seed = stream_seed(seed, stream)
    gpus = _cuda_indices(device)
    with torch.random.fork_rng(devices=gpus):
        torch.random.default_generator.manual_seed(seed)
        for index in gpus:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def stream_seed(seed: int, stream: int) -> int:
    """The seed of stream ``stream`` of ``seed``: ``seed`` itself for stream 0, else an independent one."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0]) if stream else seed


def _cuda_indices(device) -> list[int]:
    device = torch.device(device)
    if device.type != "cuda":
        return []
    return [torch.cuda.current_device() if device.index is None else device.index]


def shared_tensor(arr) -> torch.Tensor:
    """A CPU tensor on ``arr``'s memory, without a copy; read-only arrays (memory maps) included.

    sklens never writes to its inputs, so torch's warning about wrapping read-only memory does not
    apply; it is silenced here and nowhere else.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(arr)
