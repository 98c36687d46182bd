"""Every example runs in its fast mode, so examples never rot."""


def test_da_regression_example_shows_the_adaptation_gain(load_script):
    scores = load_script("examples/da_regression.py").main(["--fast"])
    assert scores["MMDRegressor"] > scores["CNNRegressor"]


def test_grid_search_example_searches_the_whole_grid(load_script):
    search = load_script("examples/grid_search_pipeline.py").main(["--fast"])
    assert len(search.cv_results_["params"]) == 4


def test_fits_example_predicts_survey_files(load_script):
    import numpy as np

    assert np.isfinite(load_script("examples/fits_to_predictions.py").main(["--fast"]))


def test_model_selection_example_selects_without_target_labels(load_script):
    search = load_script("examples/model_selection.py").main(["--fast"])
    assert set(search.best_params_) == {"lambda_da", "lr"}


def test_ensemble_example_reports_the_mean_and_a_spread_that_tracks_the_error(load_script):
    result = load_script("examples/ensemble_spread.py").main(["--fast"])
    assert len(result["member_r2"]) == 5
    # The mean's squared error is at most the members' average one: R^2 of the mean >= their mean R^2.
    assert result["ensemble_r2"] >= sum(result["member_r2"]) / 5
    assert result["error_widest_spread"] > result["error_narrowest_spread"]


def test_uncertainty_example_reports_intervals_and_draws_the_calibration(tmp_path, load_script):
    results = load_script("examples/uncertainty_heads.py").main(
        ["--fast", "--plot", str(tmp_path / "calibration.png")]
    )
    assert set(results) == {"no adaptation", "MMD", "MMD, recalibrated"}
    for r in results.values():
        assert r["median_std"] > 0 and 0 <= r["coverage_68"] <= r["coverage_95"] <= 1
    # Adaptation brings the target's errors down, as on the toy shift of the regressor tests.
    assert results["MMD"]["mean_abs_error"] < results["no adaptation"]["mean_abs_error"]
    # 100 labelled survey lenses bring the over-confident intervals much closer to nominal.
    mmd, recalibrated = results["MMD"], results["MMD, recalibrated"]
    assert recalibrated["mean_abs_error"] == mmd["mean_abs_error"]
    for level in (68, 95):
        gap_before = abs(mmd[f"coverage_{level}"] - level / 100)
        assert abs(recalibrated[f"coverage_{level}"] - level / 100) < gap_before / 2
    assert (tmp_path / "calibration.png").stat().st_size > 10_000
