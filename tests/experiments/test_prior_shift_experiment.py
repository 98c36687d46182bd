"""`sklens prior-shift` end to end on a tiny configuration (real deeplenstronomy, seconds)."""

import json
import warnings

import numpy as np
import pytest

from sklens.experiments.prior_shift import POPULATION_BINS, PriorShiftConfig, measure_prior_shift

TINY = dict(n=40, epochs=2, seeds=1, methods=("dann",), n_jobs=1, progress=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("prior-shift")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny data: calibration and population warnings by design
        return out, measure_prior_shift(out=out, **TINY)


@pytest.mark.slow
def test_every_row_is_trained_scored_and_reported(tiny_run):
    out, result = tiny_run
    rows = PriorShiftConfig(methods=("dann",)).rows()
    assert [r["row"] for r in sorted(result.runs, key=lambda r: r["row"])] == sorted(rows)
    for name in ("prior_shift.md", "results.json", "population.png"):
        assert (out / name).stat().st_size > 0
    table = (out / "prior_shift.md").read_text()
    for name in rows:
        assert f"| {PriorShiftConfig.row_label(name)} |" in table
    stored = json.loads((out / "results.json").read_text())
    assert len(stored["truth"]) == len(POPULATION_BINS) - 1
    assert np.isclose(sum(stored["truth"]), 1.0)


@pytest.mark.slow
def test_a_prior_shift_aware_run_records_its_estimate_and_its_distance_from_the_truth(tiny_run):
    _, result = tiny_run
    by_row = {run["row"]: run for run in result.runs}
    for name in ("dann-correct", "dann-adapt", "dann-adapt-noshift", "dann-resimulate"):
        population = by_row[name]["population"]
        assert len(population["weights"]) == len(POPULATION_BINS) - 1
        assert np.isclose(sum(population["weights"]), 1.0)
        assert 0.0 <= by_row[name]["population_tv"] <= 1.0
    # Both estimates have bootstrap errors: trained under the estimate, the model's population is the
    # first training's estimate (the corrected model's).
    for name in ("dann-correct", "dann-adapt"):
        assert len(by_row[name]["population"]["std"]) == len(POPULATION_BINS) - 1
    assert by_row["dann-adapt"]["population"] == by_row["dann-correct"]["population"]
    assert by_row["dann-resimulate"]["population"] == by_row["dann-correct"]["population"]
    for name in ("none", "oracle", "dann", "dann-shift"):
        assert "population" not in by_row[name]
        assert np.isfinite(by_row[name]["rmse"]) and by_row[name]["rmse"] > 0


@pytest.mark.slow
def test_a_finished_experiment_resumes_without_training(tiny_run):
    out, first = tiny_run
    again = measure_prior_shift(out=out, **TINY)
    assert again.n_trained == 0
    assert again.summary["dann-shift"]["rmse"] == first.summary["dann-shift"]["rmse"]
