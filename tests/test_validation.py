"""Shared input checks: seeds and devices."""

import numpy as np
import pytest

from sklens._validation import check_random_state_seed, resolve_device, resolve_seed


@pytest.mark.parametrize("random_state", [-1, 1.5, "seed", True])
def test_bad_seeds_are_refused(random_state):
    with pytest.raises(ValueError, match="random_state must be None, a non-negative int"):
        check_random_state_seed(random_state)
    with pytest.raises(ValueError, match="random_state must be"):
        resolve_seed(random_state)


def test_a_random_state_instance_gives_a_reproducible_seed():
    first = check_random_state_seed(np.random.RandomState(3))
    assert first == resolve_seed(np.random.RandomState(3)) and first >= 0


def test_none_means_unseeded_or_a_fresh_seed():
    assert check_random_state_seed(None) is None
    drawn = {resolve_seed(None) for _ in range(8)}
    assert len(drawn) > 1 and all(0 <= seed < 2**32 for seed in drawn)
    assert resolve_seed(np.int64(7)) == 7


def test_auto_device_is_cuda_only_when_torch_sees_it():
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device("cpu") == "cpu"
