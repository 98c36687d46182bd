"""The experiment runner: one validator, one run store, renamed names (no training, no simulation)."""

import re

import numpy as np
import pytest

from sklens.experiments.reproduce import resolve_config
from sklens.experiments.runner import RunStore
from sklens.experiments.uncertainty import resolve_uncertainty_config

BOTH = pytest.mark.parametrize(
    "resolve", [resolve_config, resolve_uncertainty_config], ids=["reproduce", "uncertainty"]
)


@BOTH
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("scaling", "log", "unknown scaling 'log'; choose one of ['per-domain', 'raw', 'asinh']."),
        ("methods", ("none", "magic"), "unknown methods ['magic']; choose among ['none', "),
        ("methods", (), "unknown methods []; choose among ['none', "),
        ("n", 5, "n=5 is too small for the 70/10/20 split; give at least 20 lenses per domain."),
        ("epochs", 0, "epochs must be at least 1; got 0."),
        ("seeds", 0, "seeds must be at least 1; got 0."),
        ("batch_size", 0, "batch_size must be at least 1; got 0."),
        ("members", 0, "members must be at least 1; got 0."),
        ("data_seed", -1, "data_seed must be a non-negative integer; got -1."),
        ("lr", 0.0, "lr must be positive; got "),
        ("lr", {"none": 1e-3}, "lr has no rate for the methods ['"),
        ("lambda_da", {"magic": 1.0}, "unknown methods ['magic'] in lambda_da; choose among ['none', "),
        ("lambda_da", {"mmd": -1.0}, "lambda_da must be non-negative; got {"),
    ],
)
def test_one_validator_names_the_field_and_what_it_allows_in_every_experiment(resolve, field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve(**{field: value})


@pytest.mark.parametrize(
    ("resolve", "field", "value", "message"),
    [
        (resolve_config, "head", "beta", "unknown head 'beta'; choose one of ['point', 'gaussian', 'flow']."),
        (
            resolve_config,
            "mmd_bandwidth",
            "max",
            "unknown mmd_bandwidth 'max'; choose one of ['mean', 'median'].",
        ),
        (resolve_config, "methods", ("oracle", "rsd"), None),
        (
            resolve_uncertainty_config,
            "heads",
            ("point",),
            "unknown heads ['point']; choose among ['gaussian', 'flow'].",
        ),
        (
            resolve_uncertainty_config,
            "targets",
            ("theta_E", "mass"),
            "unknown targets ['mass']; choose among",
        ),
        (resolve_uncertainty_config, "methods", ("coral",), "unknown methods ['coral']; choose among"),
    ],
)
def test_each_experiment_adds_its_own_fields_and_allowed_values(resolve, field, value, message):
    if message is None:
        assert getattr(resolve(**{field: value}), field) == value
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve(**{field: value})


def test_the_weights_of_the_adaptation_losses_are_one_field_per_method():
    from sklens import CORALRegressor

    config = resolve_config(lambda_da={"mmd": 2.0}, methods=("none", "mmd", "dann", "coral"))
    assert config.lambda_da == {"mmd": 2.0, "dann": 1.0, "rsd": 0.1}
    rows = config.rows()
    assert rows["mmd"].make_estimator(0).lambda_da == 2.0
    assert rows["coral"].make_estimator(0).lambda_da == CORALRegressor().lambda_da  # the estimator's default
    assert "lambda_da" not in rows["coral"].params and "lambda_da" not in rows["none"].params
    uncertainty = resolve_uncertainty_config(lambda_da={"dann": 0.3})
    assert uncertainty.rows()["dann-flow"].params["lambda_da"] == 0.3


def test_the_store_refuses_a_finished_run_of_other_settings_naming_what_differs(tmp_path):
    store = RunStore(tmp_path)
    settings = {"lr": 1e-3, "n": 24}
    written = store.save_failed("mmd", 0, {"method": "mmd", "seed": 0, "settings": settings}, "diverged")
    assert store.read("mmd", 0, settings) == written == {**written, "failed": "diverged"}
    assert store.read("mmd", 1, settings) is None  # not finished
    with pytest.raises(
        ValueError, match=r"mmd-seed0.*\(lr: 0.001 there, 0.0003 now; n: 24 there, None now\)"
    ):
        store.read("mmd", 0, {"lr": 3e-4})


def test_a_run_is_stored_with_its_predictions_and_its_result_written_last(tmp_path):
    from sklens import CNNRegressor

    X, y = np.random.default_rng(0).normal(size=(2, 16, 3)).astype(np.float32), np.arange(16.0)
    model = CNNRegressor(max_epochs=1, random_state=0, device="cpu").fit(X[0], y)
    predictions = {d: (y, model.predict(X[i])) for i, d in enumerate(("source", "target"))}
    store = RunStore(tmp_path)
    stored = store.save("none", 3, {"method": "none", "settings": {}, "predictions": predictions}, model)
    run_dir = tmp_path / "none-seed3"
    files = sorted(run_dir.iterdir(), key=lambda path: path.stat().st_mtime_ns)
    assert [p.name for p in files][-1] == "result.json"
    assert {p.name for p in files} == {"predictions.npz", "model.pkl", "history.json", "result.json"}
    again = store.read("none", 3, {})
    for result in (stored, again):
        np.testing.assert_array_equal(result["predictions"]["target"][1], predictions["target"][1])


def test_an_unknown_scaling_is_refused_before_simulating(tmp_path):
    from sklens.experiments.data import load_scaled_domains

    with pytest.raises(ValueError, match="unknown scaling 'log'"):
        load_scaled_domains(24, scaling="log", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_a_string_of_names_is_read_as_comma_separated_names_as_on_the_command_line():
    from sklens.experiments.uncertainty import resolve_uncertainty_config

    assert resolve_config(methods="sklens-mmd").methods == ("sklens-mmd",)
    assert resolve_config(methods="dann,mmd,").methods == ("dann", "mmd")
    assert resolve_config(methods=["dann"]).methods == ("dann",)
    config = resolve_uncertainty_config(methods="dann", heads="gaussian")
    assert list(config.rows()) == ["dann-gaussian"]  # not one row per letter
    with pytest.raises(ValueError, match=r"unknown methods \['dan'\]"):
        resolve_config(methods="dan")


def test_renamed_configuration_names_still_work_with_a_future_warning():
    with pytest.warns(
        FutureWarning,
        match=re.escape(
            "lambda_mmd was renamed in sklens 1.0 and will be removed in 1.1; use lambda_da={'mmd': 2.0}"
        ),
    ):
        config = resolve_config(lambda_mmd=2.0)
    assert config.lambda_da == {"mmd": 2.0, "dann": 1.0, "rsd": 0.1}
    with pytest.warns(FutureWarning, match="lambda_rsd was renamed"):
        assert config.with_overrides(lambda_rsd=0.5).lambda_da == {"mmd": 2.0, "dann": 1.0, "rsd": 0.5}
    with pytest.warns(FutureWarning, match=re.escape("use lambda_da['dann']")):
        assert config.lambda_dann == 1.0
    with pytest.warns(FutureWarning, match="ensemble was renamed"):
        assert resolve_config(ensemble=False).seeds_in_one_pass is False


def test_moved_and_replaced_public_names_still_work_with_a_future_warning():
    from sklens.experiments import data, paper_config, reproduce, runner, uncertainty

    for module, name, new in (
        (paper_config, "ReproductionConfig", reproduce),
        (paper_config, "PRESETS", reproduce),
        (paper_config, "SCALINGS", data),
        (reproduce, "scale_pixels", data),
        (reproduce, "remaining_runs", runner),
    ):
        with pytest.warns(FutureWarning, match=re.escape(f"use {new.__name__}.{name}")):
            assert getattr(module, name) is getattr(new, name)
    with pytest.raises(AttributeError, match="has no attribute 'NOPE'"):
        paper_config.NOPE  # noqa: B018
    config = resolve_config(methods=("none",))
    with pytest.warns(FutureWarning, match="make_estimator"):
        model = reproduce.make_estimator("mmd", config, 4, "cpu", n_members=2)
    row = resolve_config(methods=("mmd",)).rows()["mmd"]
    assert model.get_params(deep=False) == row.make_estimator(4, n_members=2, device="cpu").get_params(
        deep=False
    )
    members = resolve_uncertainty_config(members=3)
    with pytest.warns(FutureWarning, match="make_uncertainty_estimator"):
        model = uncertainty.make_uncertainty_estimator("dann", "flow", members, 2, "cpu")
    assert (type(model).__name__, model.head, model.random_state, model.n_members) == (
        "DANNRegressor",
        "flow",
        6,
        3,
    )
