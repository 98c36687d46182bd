"""Every example runs in its fast mode, so examples never rot."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_da_regression_example_shows_the_adaptation_gain():
    scores = load("da_regression").main(["--fast"])
    assert scores["MMDRegressor"] > scores["CNNRegressor"]


def test_grid_search_example_searches_the_whole_grid():
    search = load("grid_search_pipeline").main(["--fast"])
    assert len(search.cv_results_["params"]) == 4
