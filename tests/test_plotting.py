"""sklens.plotting: the lens-finding figure (the regression grid is tested with sklens reproduce)."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from sklens.plotting import plot_lens_finding


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
