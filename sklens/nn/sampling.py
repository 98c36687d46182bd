"""Batches for training: target batches for the adaptation losses, member batches for ensembles."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

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


def member_seeds(seed: int | None, n_members: int) -> list[int]:
    """``seed + k`` for member k; ``seed`` drawn from torch's CPU generator when it is None.

    Member k of an ensemble is then initialised, shuffled and given target batches as a separate fit
    with ``random_state + k`` would be.

    Examples
    --------
    >>> member_seeds(10, 3)
    [10, 11, 12]
    """
    if seed is None:
        seed = int(torch.randint(0, 2**31 - n_members, (1,)))
    return [seed + k for k in range(n_members)]


def seeded_members(seeds: list[int] | None, states: list[torch.Tensor]) -> Iterator[int]:
    """Yield each member's index, with torch's CPU generator seeded by the member's seed meanwhile.

    A member's parts are built inside its turn, as its own fit would build them; at the end of each
    turn the generator's state (the member's stream, for
    [`member_random_stream`][sklens.nn.sampling.member_random_stream]) is appended to ``states``, and
    after the last turn the caller's stream is restored. ``seeds`` None is a single model: one turn on
    the caller's own stream, and ``states`` is left empty.

    Examples
    --------
    >>> states = []
    >>> draws = [float(torch.rand(1)) for _ in seeded_members([7, 7, 8], states)]
    >>> draws[0] == draws[1] != draws[2], len(states)
    (True, 3)
    """
    if seeds is None:
        yield 0
        return
    with torch.random.fork_rng(devices=[]):
        for k, seed in enumerate(seeds):
            torch.random.default_generator.manual_seed(seed)
            yield k
            states.append(torch.get_rng_state())


@contextlib.contextmanager
def member_random_stream(states: list[torch.Tensor] | None, k: int) -> Iterator[None]:
    """Run the block on member ``k``'s stream of torch's CPU generator, then give the stream back.

    ``states[k]`` is replaced by the generator's state at the end of the block, and the caller's
    state is restored: each member of an ensemble draws what it would draw alone, in its own fit.
    ``states`` None is a single model, whose stream is the caller's: the block runs on it.
    """
    if states is None:
        yield
        return
    outer = torch.get_rng_state()
    torch.set_rng_state(states[k])
    try:
        yield
    finally:
        states[k] = torch.get_rng_state()
        torch.set_rng_state(outer)


class MemberBatches:
    """The batches of K members side by side, each member shuffled by its own random stream.

    ``indices`` is a loader over ``range(n)`` (a ``DataLoader`` with the training loader's batch size
    and shuffling). For each member in turn, iterating it draws exactly what one pass of a loader over
    the data draws from torch's global generator at the start of an epoch (the loader's base seed, the
    sampler's seed), but from that member's stream (see
    [`member_random_stream`][sklens.nn.sampling.member_random_stream]); the global generator is left
    as it was. Each batch gathers the members' rows at once: inputs (B, K, ...) and targets (B, K, ...).

    Parameters
    ----------
    indices : iterable
        Batches of row indices, shuffled with torch's global generator.
    X : torch.Tensor
        The rows, shared by every member (not copied).
    y : torch.Tensor
        Their targets.
    states : list of torch.Tensor
        One CPU generator state per member, advanced in place.
    """

    def __init__(
        self, indices: Iterable, X: torch.Tensor, y: torch.Tensor, states: list[torch.Tensor]
    ) -> None:
        self.indices = indices
        self.X = X
        self.y = y
        self.states = states

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        iterators, firsts = [], []
        for k in range(len(self.states)):
            with member_random_stream(self.states, k):
                iterator = iter(self.indices)
                first = next(iterator, None)  # the epoch's seeds are drawn when the first batch is
            if first is None:
                return
            iterators.append(iterator)
            firsts.append(first)
        yield self._gather(firsts)
        for batches in zip(*iterators, strict=True):
            yield self._gather(batches)

    def _gather(self, member_indices) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.stack([torch.as_tensor(i) for i in member_indices], dim=1)  # (B, K)
        return self.X[rows], self.y[rows]


class PopulationSampler(torch.utils.data.Sampler):
    """Training rows shuffled, or drawn as if their labels followed another population.

    Until `reweight` is called it draws exactly what torch's ``RandomSampler`` (a loader's
    ``shuffle=True``) draws: a permutation seeded from torch's current stream. After, it draws
    ``len(self)`` rows with replacement, with probabilities proportional to the weights, so that a
    row's label occurs as under the population the weights stand for. `reset` sizes it for a training
    set (and undoes the weights).

    Examples
    --------
    >>> sampler = PopulationSampler()
    >>> sampler.reset(4)
    >>> sorted(sampler)
    [0, 1, 2, 3]
    >>> sampler.reweight([0.0, 0.0, 1.0, 0.0])
    >>> list(sampler)
    [2, 2, 2, 2]
    """

    def __init__(self) -> None:
        self.n_rows = 0
        self.weights: torch.Tensor | None = None

    def reset(self, n_rows: int) -> None:
        """Draw from ``n_rows`` rows, shuffled."""
        self.n_rows, self.weights = n_rows, None

    def reweight(self, weights) -> None:
        """Draw rows with probabilities proportional to ``weights`` (one per row) from now on."""
        weights = torch.as_tensor(np.asarray(weights, dtype=np.float64))
        if weights.shape != (self.n_rows,) or not torch.isfinite(weights).all() or (weights < 0).any():
            raise ValueError(
                f"weights must be {self.n_rows} non-negative finite values; got shape {tuple(weights.shape)}."
            )
        self.weights = weights

    def __len__(self) -> int:
        return self.n_rows

    def __iter__(self) -> Iterator[int]:
        seed = int(torch.empty((), dtype=torch.int64).random_().item())  # as RandomSampler draws it
        generator = torch.Generator().manual_seed(seed)
        if self.weights is None:
            yield from torch.randperm(self.n_rows, generator=generator).tolist()
        else:
            yield from torch.multinomial(
                self.weights, self.n_rows, replacement=True, generator=generator
            ).tolist()
