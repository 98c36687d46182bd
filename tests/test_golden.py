"""The regressors' outputs equal, bit for bit, those stored before the estimator was reshaped.

``tests/golden/make_golden.py`` wrote ``regressors.npz`` on the code of December 2026's main (every
regressor with every head, 1 and 3 members, domain BatchNorm off and on, 2 epochs on tiny seeded
data). Here the same script recomputes every case in a fresh process, with the CPU's arithmetic pinned
as when the file was written (one thread, AVX2 kernels), and every array must be identical.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


@pytest.mark.slow
def test_every_regressor_head_ensemble_and_batchnorm_gives_the_stored_outputs(tmp_path):
    out = tmp_path / "now.npz"
    subprocess.run(
        [sys.executable, str(GOLDEN_DIR / "make_golden.py"), "--out", str(out)], check=True, timeout=600
    )
    stored, now = np.load(GOLDEN_DIR / "regressors.npz"), np.load(out)
    assert sorted(now.files) == sorted(stored.files)
    assert len(stored.files) == 456  # 72 cases: 5 outputs each, 7 with a distribution
    for name in stored.files:
        np.testing.assert_array_equal(now[name], stored[name], err_msg=name)
