"""acceptance/gpu_check.py, the prepared GPU checks, runs end to end on the CPU: the same code path as on
a GPU machine but the device, so the script is ready (and not broken) when a GPU is lent."""

import json

import pytest


@pytest.mark.slow
def test_gpu_check_script_fits_every_estimator_and_reloads_it_in_a_process_without_a_gpu(
    tmp_path, load_script, monkeypatch
):
    # The reloading process predicts with one torch thread, as this one (tests/conftest.py), so that
    # both sum in the same order.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    status = load_script("acceptance/gpu_check.py").main(["--device", "cpu", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert status == 0, json.dumps(report, indent=1)
    names = {row["name"] for row in report["estimators"]}
    assert {"CNN", "DANN", "MMD", "CORAL", "RSD", "DARE-GRAM", "LensClassifier"} <= names
    assert {"MMD-gaussian", "DANN-flow", "DANN-domain-batchnorm", "MMD-ensemble"} <= names
    assert all(row["ok"] is True and row["module_device"] == "cpu" for row in report["estimators"])
    reloaded = report["reload_on_cpu"]["max_abs_difference"]
    assert len(reloaded) == len(names) and max(reloaded.values()) == 0.0
