"""`sklens uncertainty` end to end on a tiny configuration (real deeplenstronomy, seconds)."""

import json
import pickle
import sys

import matplotlib.image
import numpy as np
import pytest

from sklens.cli import main
from sklens.experiments.uncertainty import draw_calibration_figure, measure_uncertainty

TINY = dict(
    n=24, epochs=1, seeds=1, methods=("none", "mmd"), targets=("theta_E", "e1"), n_jobs=1, progress=False
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("uncertainty")
    return out, measure_uncertainty(out=out, **TINY)


def test_every_method_head_and_parameter_is_measured(tiny_run):
    out, result = tiny_run
    assert result.n_trained == 4  # 2 methods x 2 heads x 1 seed
    assert sorted(result.summary) == ["mmd-flow", "mmd-gaussian", "none-flow", "none-gaussian"]
    results = json.loads((out / "results.json").read_text())
    for cells in results["summary"].values():
        for domain in ("source", "target"):
            assert sorted(cells[domain]) == ["e1", "theta_E"]
            for metrics in cells[domain].values():
                assert 0 <= metrics["coverage_68"]["mean"] <= metrics["coverage_95"]["mean"] <= 1
                assert metrics["mean_abs_residual"]["mean"] > 0


def test_table_has_one_section_per_parameter_and_the_figure_one_panel_per_method_and_head(tiny_run):
    out, result = tiny_run
    table = (out / "calibration.md").read_text()
    assert "## theta_E" in table and "## e1" in table
    assert table.count("| MMD | flow |") == 2
    assert matplotlib.image.imread(out / "calibration.png").shape[0] > 100
    figure = draw_calibration_figure(result.runs, result.config)
    assert [ax.get_title() for ax in figure.axes] == [
        "No DA, gaussian head (target)",
        "No DA, flow head (target)",
        "MMD, gaussian head (target)",
        "MMD, flow head (target)",
    ]
    assert all(len(ax.lines) == 3 for ax in figure.axes)  # two parameters and the diagonal


def test_rerun_resumes_from_the_stored_runs(tiny_run):
    out, first = tiny_run
    again = measure_uncertainty(out=out, **TINY)
    assert again.n_trained == 0 and again.summary == first.summary


def test_a_rerun_with_other_targets_is_refused_before_any_simulation(tiny_run, tmp_path):
    out, _ = tiny_run
    cache = tmp_path / "cache"
    options = {**TINY, "targets": ("theta_E", "e2")}
    with pytest.raises(ValueError, match=r"none-gaussian-seed0.*targets: \['theta_E', 'e1'\] there"):
        measure_uncertainty(out=out, cache_dir=cache, **options)
    assert not cache.exists()


def test_each_run_can_be_a_deep_ensemble_whose_mixture_is_measured(tiny_run, tmp_path):
    out, _ = tiny_run
    options = {**TINY, "methods": ("mmd",), "heads": ("gaussian",), "seeds": 2}
    result = measure_uncertainty(out=tmp_path, cache_dir=out / "cache", members=2, **options)
    assert result.n_trained == 2
    for seed in (0, 1):
        with (tmp_path / "runs" / f"mmd-gaussian-seed{seed}" / "model.pkl").open("rb") as stream:
            model = pickle.load(stream)
        assert (model.n_members, model.random_state) == (2, 2 * seed)  # runs share no member
    assert "each run an ensemble of 2 members" in (tmp_path / "calibration.md").read_text()
    with pytest.raises(ValueError, match="members: 2 there, 1 now"):
        measure_uncertainty(out=tmp_path, cache_dir=out / "cache", **options)


def test_the_scaling_is_applied_and_recorded(tiny_run, tmp_path):
    out, first = tiny_run
    options = {**TINY, "methods": ("none",), "heads": ("gaussian",)}
    result = measure_uncertainty(out=tmp_path, cache_dir=out / "cache", scaling="asinh", **options)
    scores = {r["method"]: r["scores"] for r in first.runs if r["head"] == "gaussian"}
    assert result.runs[0]["scores"] != scores["none"]  # another input, another model
    assert result.runs[0]["settings"]["scaling"] == "asinh"
    assert "asinh scaling" in (tmp_path / "calibration.md").read_text()
    with pytest.raises(ValueError, match="scaling: 'asinh' there, 'per-domain' now"):
        measure_uncertainty(out=tmp_path, cache_dir=out / "cache", **options)
    with pytest.raises(ValueError, match="unknown scaling 'log'"):
        measure_uncertainty(out=tmp_path / "log", cache_dir=tmp_path / "cache", scaling="log", **options)
    assert not (tmp_path / "cache").exists()


def test_feature_norm_reaches_every_network_and_is_recorded(tiny_run, tmp_path):
    from sklens.nn.layers import FeatureNorm

    out, _ = tiny_run
    options = {**TINY, "methods": ("mmd",), "heads": ("gaussian",)}
    assert main(["uncertainty", "--out", str(tmp_path), "--cache-dir", str(out / "cache"), "--n", "24",
                 "--epochs", "1", "--seeds", "1", "--methods", "mmd", "--heads", "gaussian",
                 "--targets", "theta_E,e1", "--feature-norm"]) == 0  # fmt: skip
    with (tmp_path / "runs" / "mmd-gaussian-seed0" / "model.pkl").open("rb") as stream:
        assert isinstance(pickle.load(stream).module_.features[-1], FeatureNorm)
    assert "feature norm on" in (tmp_path / "calibration.md").read_text()
    with pytest.raises(ValueError, match="module__feature_norm: True there, False now"):
        measure_uncertainty(out=tmp_path, cache_dir=out / "cache", **options)


def test_domain_batchnorm_reaches_every_method_and_each_test_set_uses_its_own_statistics(tiny_run, tmp_path):
    from sklearn.metrics import r2_score

    from sklens.experiments.data import load_scaled_domains

    out, _ = tiny_run
    options = {**TINY, "heads": ("gaussian",)}
    result = measure_uncertainty(
        out=tmp_path, cache_dir=out / "cache", domain_batchnorm=True, lr=3e-4, **options
    )
    data = load_scaled_domains(
        24,
        data_seed=10,
        scaling="per-domain",
        cache_dir=out / "cache",
        progress=False,
        targets=["theta_E", "e1"],
    )
    for method in ("none", "mmd"):
        with (tmp_path / "runs" / f"{method}-gaussian-seed0" / "model.pkl").open("rb") as stream:
            model = pickle.load(stream)
        assert model.domain_batchnorm and model.lr == 3e-4
        assert model.n_target_rows_ > 0  # no adaptation too estimates the target's statistics (AdaBN)
        run = next(r for r in result.runs if r["method"] == method)
        for domain, other in (("source", "target"), ("target", "source")):
            X, y = data.test[domain]
            r2 = {
                d: r2_score(y[:, 0], model.set_params(predict_domain=d).predict(X)[:, 0])
                for d in (domain, other)
            }
            assert run["scores"][domain]["theta_E"]["r2"] == pytest.approx(r2[domain], abs=1e-6)
            assert r2[domain] != pytest.approx(r2[other], abs=1e-6)
    assert "domain BatchNorm on" in (tmp_path / "calibration.md").read_text()
    with pytest.raises(ValueError, match="domain_batchnorm: True there, False now"):
        measure_uncertainty(out=tmp_path, cache_dir=out / "cache", lr=3e-4, **options)


def test_a_diverging_run_is_recorded_and_the_others_go_on(tiny_run, tmp_path):
    out, _ = tiny_run
    options = {**TINY, "heads": ("gaussian",), "epochs": 4, "lr": {"none": 6e-5, "mmd": 1e12}}
    result = measure_uncertainty(out=tmp_path, cache_dir=out / "cache", **options)
    assert result.n_trained == 2
    assert result.summary["mmd-gaussian"]["failed"] == 1 and result.summary["none-gaussian"]["failed"] == 0
    assert result.summary["mmd-gaussian"]["target"]["e1"]["nll"] == {"mean": None, "std": None}
    assert np.isfinite(result.summary["none-gaussian"]["target"]["e1"]["nll"]["mean"])
    stored = json.loads((tmp_path / "runs" / "mmd-gaussian-seed0" / "result.json").read_text())
    assert "non-finite loss" in stored["failed"] and "scores" not in stored
    table = (tmp_path / "calibration.md").read_text()
    assert "| MMD (1 of 1 seeds diverged) | gaussian | - | - |" in table
    assert "- MMD, gaussian head, seed 0: MMDRegressor at epoch" in table
    figure = draw_calibration_figure(result.runs, result.config)
    assert figure.axes[1].get_title() == "MMD, gaussian head (target): every seed diverged"
    assert measure_uncertainty(out=tmp_path, cache_dir=out / "cache", **options).n_trained == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--heads", "point"], "unknown heads ['point']"),
        (["--targets", "theta_E,mass"], "unknown targets ['mass']"),
        (["--methods", "coral"], "unknown methods ['coral']"),
        (["--seeds", "0"], "seeds must be at least 1"),
        (["--members", "0"], "members must be at least 1"),
        (["--lr", "0"], "lr must be positive"),
    ],
)
def test_bad_arguments_are_refused_before_any_simulation(argv, message, tmp_path, capsys):
    assert main(["uncertainty", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_the_flow_head_without_zuko_is_refused_before_any_simulation(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "zuko", None)  # what an install without the flow extra sees
    assert main(["uncertainty", "--out", str(tmp_path), "--heads", "flow"]) == 2
    assert 'needs zuko: pip install "sklens[sim,plot,flow]"' in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()
