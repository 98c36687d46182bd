"""acceptance/gpu_check.py, the prepared GPU checks, runs end to end on the CPU: the same code path as on
a GPU machine but the device, so the script is ready (and not broken) when a GPU is lent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "acceptance" / "gpu_check.py"


@pytest.mark.slow
def test_gpu_check_script_fits_every_estimator_and_reloads_it_in_a_process_without_a_gpu(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        # One torch thread, as the rest of the suite (tests/conftest.py): 30 s instead of 71 s measured
        # on a shared two-core machine. The reloading process inherits it, so both predict alike.
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    names = {row["name"] for row in report["estimators"]}
    assert {"CNN", "DANN", "MMD", "CORAL", "RSD", "DARE-GRAM", "LensClassifier"} <= names
    assert {"MMD-gaussian", "DANN-flow", "DANN-domain-batchnorm", "MMD-ensemble"} <= names
    assert all(row["ok"] is True and row["module_device"] == "cpu" for row in report["estimators"])
    reloaded = report["reload_on_cpu"]["max_abs_difference"]
    assert len(reloaded) == len(names) and max(reloaded.values()) == 0.0
