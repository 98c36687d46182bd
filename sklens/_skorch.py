"""Behaviour shared by every sklens skorch net: automatic device choice and seeded training."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from sklens._validation import check_random_state_seed, resolve_device


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
def seeded_torch(random_state) -> Iterator[None]:
    """Run the block with torch's global generators seeded from ``random_state``.

    The caller's generator state is restored afterwards, so seeding a model never changes the random
    stream of the surrounding program. With ``random_state=None`` nothing is seeded or restored.
    """
    seed = check_random_state_seed(random_state)
    if seed is None:
        yield
        return
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
