"""sklens.plotting: the lens-finding and calibration figures (the regression grid is tested with sklens
reproduce)."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from sklens.metrics import calibration_curve
from sklens.plotting import plot_calibration, plot_lens_finding


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    good = np.clip(0.7 * y + 0.3 * rng.random(200), 0, 1)
    poor = rng.random(200)
    return y, {"good": good, "poor": poor}


def test_roc_panel_has_one_curve_per_model_with_its_auc(scores):
    y, probabilities = scores
    fig = plot_lens_finding(y, probabilities)
    (ax,) = fig.axes
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == [f"{name} (AUC {roc_auc_score(y, p):.4f})" for name, p in probabilities.items()]
    assert labels[0].endswith("(AUC 1.0000)")
    assert ax.get_xscale() == "log"
    assert ax.get_ylim()[0] < 0.5  # the poor model's curve starts low: the axis shows it


def test_roc_panel_zooms_on_good_classifiers(scores):
    y, probabilities = scores
    bottom, top = plot_lens_finding(y, {"good": probabilities["good"]}).axes[0].get_ylim()
    assert 0.9 < bottom < 1.0 < top


def test_rotation_panel_marks_exactly_invariant_models(scores):
    y, probabilities = scores
    stds = {"good": np.zeros(len(y)), "poor": np.linspace(0.0, 0.2, len(y))}
    fig = plot_lens_finding(y, probabilities, stds)
    ax = fig.axes[1]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["good: exactly 0", "poor (mean 0.100)"]
    x, fraction = ax.lines[1].get_data()
    assert (
        x.min() > 0
        and fraction[0] == pytest.approx(1 - 1 / len(y))
        and fraction[-1] == pytest.approx(1 / len(y))
    )


def test_bad_input_is_refused(scores):
    y, probabilities = scores
    with pytest.raises(ValueError, match="both lenses and non-lenses"):
        plot_lens_finding(np.ones(len(y)), probabilities)
    with pytest.raises(ValueError, match="'poor'.*shape"):
        plot_lens_finding(y, {"poor": probabilities["poor"][:10]})


@pytest.fixture
def curve():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(2000, 2))
    # Parameter 0 calibrated, parameter 1 over-confident (std halved).
    return calibration_curve(y, y_mean=np.zeros_like(y), y_std=np.array([1.0, 0.5]) * np.ones_like(y))


def test_calibration_plot_draws_each_parameter_and_the_diagonal_to_a_png(curve, tmp_path):
    ax = plot_calibration(curve, parameter_names=["theta_E", "e1"])
    calibrated, over_confident, diagonal = ax.lines
    np.testing.assert_array_equal(calibrated.get_xdata(), curve.levels)
    np.testing.assert_array_equal(over_confident.get_ydata(), curve.coverage[:, 1])
    assert list(diagonal.get_xdata()) == [0, 1] == list(diagonal.get_ydata())
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == [
        f"theta_E (miscal. {curve.miscalibration[0]:.3f})",
        f"e1 (miscal. {curve.miscalibration[1]:.3f})",
    ]
    assert "nominal" in ax.get_xlabel() and "empirical" in ax.get_ylabel()
    path = tmp_path / "calibration.png"
    ax.figure.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_calibration_plot_of_one_parameter_on_given_axes(curve):
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    one = curve._replace(coverage=curve.coverage[:, 0], miscalibration=float(curve.miscalibration[0]))
    assert plot_calibration(one, ax=ax) is ax
    assert [text.get_text() for text in ax.get_legend().get_texts()][0].startswith("parameter 0 (")


def test_calibration_plot_refuses_a_wrong_number_of_names(curve):
    with pytest.raises(ValueError, match="parameter_names has 1 names for 2 parameters"):
        plot_calibration(curve, parameter_names=["theta_E"])
