"""Several lens parameters as the target of sklens.simulation (real deeplenstronomy, tiny sets)."""

import numpy as np
import pytest

from sklens.simulation import LENS_PARAMETERS, load_paper_domains, preset_path, simulate_lenses

N, CHUNK, SEED = 12, 6, 5
OPTIONS = dict(random_state=SEED, chunk_size=CHUNK, progress=False)
TARGETS = ["e1", "theta_E", "gamma2", "source_magnitude"]
VARYING = list(LENS_PARAMETERS)[:13]  # the parameters the paper presets draw


@pytest.fixture(scope="module")
def data():
    return simulate_lenses("paper-target", N, targets=TARGETS, **OPTIONS)


def test_targets_are_float32_columns_in_the_order_asked(data):
    assert data.target.shape == (N, len(TARGETS)) and data.target.dtype == np.float32
    assert data.target_names == TARGETS
    expected = np.column_stack([data.metadata[LENS_PARAMETERS[name]] for name in TARGETS])
    np.testing.assert_array_equal(data.target, expected.astype(np.float32))
    # The images are those of the default call: targets only chooses what comes back.
    default = simulate_lenses("paper-target", N, **OPTIONS)
    np.testing.assert_array_equal(default.images, data.images)
    assert default.target.shape == (N,) and "target_names" not in default
    np.testing.assert_array_equal(default.target, data.target[:, 1])


def test_parameters_frame_holds_every_short_named_parameter(data):
    assert list(data.parameters.columns) == list(LENS_PARAMETERS)
    for name, column in LENS_PARAMETERS.items():
        np.testing.assert_array_equal(data.parameters[name], data.metadata[column])
    assert (data.parameters[VARYING].nunique() == N).all()
    assert (data.parameters.drop(columns=VARYING).nunique() == 1).all()


def test_return_x_y_and_load_paper_domains_with_targets(data):
    images, target = simulate_lenses("paper-target", N, targets=TARGETS, return_X_y=True, **OPTIONS)
    np.testing.assert_array_equal(target, data.target)
    domains = load_paper_domains(10, random_state=SEED, progress=False, targets=["theta_E", "e2"])
    for domain in (domains.source, domains.target):
        assert domain.target_names == ["theta_E", "e2"]
        assert domain.train.target.shape == (7, 2) and domain.validation.target.shape == (1, 2)
        np.testing.assert_array_equal(
            domain.test.target[:, 1], domain.test.parameters["e2"].astype(np.float32)
        )


def test_a_fixed_parameter_as_target_warns():
    with pytest.warns(UserWarning, match=r"\['lens_redshift'\] take one value in every image"):
        data = simulate_lenses("paper-source", 4, targets=["theta_E", "lens_redshift"], **OPTIONS)
    np.testing.assert_array_equal(data.target[:, 1], 0.5)


@pytest.mark.parametrize(
    "targets, message",
    [
        (
            ["theta_E", "Einstein_radius"],
            r"unknown targets \['Einstein_radius'\]; the valid names are \['theta_E', 'e1'",
        ),
        ("theta_E", "non-empty list of parameter names"),
        ([], "non-empty list"),
        (3, "non-empty list"),
        (["e1", "e1"], "twice"),
    ],
)
def test_bad_targets_are_refused_before_simulating(tmp_path, targets, message):
    with pytest.raises(ValueError, match=message):
        simulate_lenses("paper-source", 4, targets=targets, cache_dir=tmp_path, **OPTIONS)
    assert not list(tmp_path.iterdir())  # nothing simulated, not even a cache directory


def test_targets_are_refused_for_a_classification_preset():
    with pytest.raises(ValueError, match="SKLENS.CLASSES"):
        simulate_lenses("lens-finding", 4, targets=["theta_E"], **OPTIONS)


def test_a_target_the_configuration_does_not_draw_is_refused_before_simulating(tmp_path):
    text = preset_path("paper-source").read_text()
    start, end = text.index("        SHEAR_PROFILE_1:"), text.index("    GALAXY_2:")
    path = tmp_path / "no-shear.yaml"
    path.write_text(text[:start] + text[end:])
    with pytest.raises(ValueError, match=r"targets \['gamma1'\] are not drawn by .*no-shear.yaml"):
        simulate_lenses(path, 4, targets=["theta_E", "gamma1"], cache_dir=tmp_path / "cache", **OPTIONS)
    assert not list((tmp_path / "cache").glob("*/chunk_*"))
