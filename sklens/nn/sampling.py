"""Target batches for the adaptation losses: the torch side of the target domain."""

from __future__ import annotations

import numpy as np
import torch


class TargetSampler:
    """Draw target batches: a random permutation of the target set, reshuffled when used up.

    Parameters
    ----------
    X : numpy.ndarray
        The target rows.
    seed : int
        Seed of the sampler's own generator.

    Examples
    --------
    >>> import numpy as np
    >>> sampler = TargetSampler(np.arange(6, dtype=np.float32)[:, None], seed=0)
    >>> rows = sampler.draw(4), sampler.draw(4)
    >>> sorted(rows[0][:, 0].tolist() + rows[1][:2, 0].tolist())  # one pass: every row once
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    """

    def __init__(self, X: np.ndarray, seed: int) -> None:
        self.X = torch.as_tensor(X)
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(len(self.X), generator=self.generator)
        self.position = 0

    def draw(self, n: int) -> torch.Tensor:
        """Return the next ``n`` target rows, cycling through the set as often as needed."""
        parts = []
        while n > 0:
            if self.position == len(self.order):
                self.order = torch.randperm(len(self.X), generator=self.generator)
                self.position = 0
            take = min(n, len(self.order) - self.position)
            parts.append(self.order[self.position : self.position + take])
            self.position += take
            n -= take
        return self.X[torch.cat(parts)]
