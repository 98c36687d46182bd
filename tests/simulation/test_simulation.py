"""sklens.simulation against the real deeplenstronomy, on tiny sets (16 images, two chunks of 8)."""

import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from sklens.population import Population
from sklens.simulation import (
    PopulationSimulator,
    load_paper_domains,
    preset_names,
    preset_path,
    simulate_lenses,
    uncached_lenses,
)

N, CHUNK, SEED = 16, 8, 3
OPTIONS = dict(random_state=SEED, chunk_size=CHUNK, progress=False)
THETA_E = "PLANE_1-OBJECT_1-MASS_PROFILE_1-theta_E-g"


@pytest.fixture(scope="module")
def source():
    return simulate_lenses("paper-source", N, **OPTIONS)


@pytest.fixture(scope="module")
def target():
    return simulate_lenses("paper-target", N, **OPTIONS)


def border_pixels(images):
    """Pixels of the outer 5-pixel frame of every image, per image: mostly sky."""
    mask = np.ones(images.shape[-2:], dtype=bool)
    mask[5:-5, 5:-5] = False
    return images[..., mask].reshape(len(images), -1)


def roughness(images):
    """Median |pixel - mean of its horizontal neighbours| in the outer frame (faint light)."""
    second_difference = images[..., 1:-1] - 0.5 * (images[..., :-2] + images[..., 2:])
    return np.median(np.abs(border_pixels(second_difference)))


def relative_noise(images):
    """Per-image background scatter relative to the peak brightness."""
    return border_pixels(images).std(axis=1) / images.reshape(len(images), -1).max(axis=1)


def test_presets_are_shipped():
    assert set(preset_names()) >= {
        "paper-source",
        "paper-target",
        "des-target",
        "noiseless-source",
        "lens-finding",
    }
    assert preset_path("paper-source").is_file()


@pytest.mark.parametrize("name", ["source", "target"])
def test_images_shapes_dtype_and_theta_e(name, request):
    data = request.getfixturevalue(name)
    assert data.images.shape == (N, 1, 40, 40)
    assert data.images.dtype == np.float32
    assert np.isfinite(data.images).all()
    assert data.target.shape == (N,)
    assert ((data.target >= 0.5) & (data.target <= 3.0)).all()
    assert len(data.metadata) == N
    np.testing.assert_array_equal(data.target, data.metadata[THETA_E].to_numpy(np.float32))
    assert "SURVEY" in data.config and isinstance(data.random_state, int)


def test_target_is_noisier_than_source(source, target):
    assert np.median(relative_noise(target.images)) > 5 * np.median(relative_noise(source.images))


def test_noiseless_source_is_the_source_without_its_noise(source):
    clean = simulate_lenses("noiseless-source", N, **OPTIONS)
    # Same configuration apart from sklens' section: same parameters, same draws.
    np.testing.assert_array_equal(clean.target, source.target)
    assert (clean.images >= 0).all()
    residual = source.images - clean.images
    assert abs(residual.mean()) < 0.1 * residual.std()
    assert roughness(clean.images) < 0.1 * roughness(source.images)


def test_des_target_keeps_the_draws_and_raises_the_sky_noise(target):
    corrected = simulate_lenses("des-target", N, **OPTIONS)
    for column in (THETA_E, "seeing-g", "num_exposures-g"):
        np.testing.assert_array_equal(corrected.metadata[column], target.metadata[column])
    ratio = border_pixels(corrected.images).std(axis=1) / border_pixels(target.images).std(axis=1)
    assert np.median(ratio) > 1.2


def test_lens_finding_is_balanced_three_band():
    data = simulate_lenses("lens-finding", N, **OPTIONS)
    assert data.images.shape == (N, 3, 60, 60) and data.images.dtype == np.float32
    assert sorted(data.target.tolist()) == [0] * (N // 2) + [1] * (N // 2)
    assert data.target_names == ["NON_LENS", "LENS"]
    non_lens = data.metadata[data.target == 0]
    assert (non_lens["PLANE_2-OBJECT_1-LIGHT_PROFILE_1-magnitude-g"] == 100).all()


def test_same_seed_same_arrays_and_return_x_y(source):
    images, target = simulate_lenses("paper-source", N, return_X_y=True, **OPTIONS)
    np.testing.assert_array_equal(images, source.images)
    np.testing.assert_array_equal(target, source.target)
    other = simulate_lenses("paper-source", N, **dict(OPTIONS, random_state=SEED + 1))
    assert not np.array_equal(other.images, source.images)


@pytest.mark.slow
def test_n_jobs_does_not_change_the_result(source):
    parallel = simulate_lenses("paper-source", N, n_jobs=2, **OPTIONS)
    np.testing.assert_array_equal(parallel.images, source.images)
    assert parallel.metadata.equals(source.metadata)


def test_user_yaml_file_is_accepted(tmp_path, source):
    path = tmp_path / "my config.yaml"
    path.write_text(preset_path("paper-source").read_text())
    data = simulate_lenses(path, N, **OPTIONS)
    np.testing.assert_array_equal(data.images, source.images)


def test_second_call_reads_the_cache_without_simulating(tmp_path, source):
    first = simulate_lenses("paper-source", N, cache_dir=tmp_path, **OPTIONS)
    second = simulate_lenses("paper-source", N, cache_dir=tmp_path, **OPTIONS)
    assert (first.n_simulated_chunks, second.n_simulated_chunks) == (2, 0)
    np.testing.assert_array_equal(second.images, source.images)
    assert second.metadata.equals(source.metadata)
    # deeplenstronomy wrote nothing outside its private directory, which is gone.
    assert sorted(p.name for p in first.cache_path.iterdir()) == [
        "chunk_000000.npz",
        "chunk_000001.npz",
        "manifest.json",
    ]


def test_uncached_lenses_counts_what_a_call_would_simulate(tmp_path):
    options = dict(random_state=SEED, chunk_size=CHUNK)
    assert uncached_lenses("paper-source", N, cache_dir=tmp_path, **options) == N
    assert uncached_lenses("paper-source", N, **options) == N  # no cache
    first = simulate_lenses("paper-source", N, cache_dir=tmp_path, **OPTIONS)
    assert uncached_lenses("paper-source", N, cache_dir=tmp_path, **options) == 0
    (first.cache_path / "chunk_000001.npz").unlink()
    assert uncached_lenses("paper-source", N, cache_dir=tmp_path, **options) == N - CHUNK
    assert uncached_lenses("paper-target", N, cache_dir=tmp_path, **options) == N  # another domain
    assert (
        uncached_lenses("paper-source", N, cache_dir=tmp_path, random_state=SEED + 1, chunk_size=CHUNK) == N
    )


def test_rerun_resumes_after_an_interruption(tmp_path, source):
    first = simulate_lenses("paper-source", N, cache_dir=tmp_path, **OPTIONS)
    (first.cache_path / "chunk_000001.npz").unlink()
    stray = first.cache_path / "chunk_000001.npz.abc123.tmp"
    stray.write_bytes(b"half-written")
    stray_workdir = first.cache_path / "deeplenstronomy-xyz.tmp"
    stray_workdir.mkdir()
    (stray_workdir / "CONFIGURATION_1_sim_dicts.npy").write_bytes(b"")
    resumed = simulate_lenses("paper-source", N, cache_dir=tmp_path, **OPTIONS)
    assert resumed.n_simulated_chunks == 1
    assert not stray.exists() and not stray_workdir.exists()
    np.testing.assert_array_equal(resumed.images, source.images)


def test_callers_warning_filters_and_random_states_are_restored():
    warnings.simplefilter("error", ResourceWarning)
    np.random.seed(123)  # noqa: NPY002
    random.seed(456)
    filters, python_state = list(warnings.filters), random.getstate()
    numpy_state = np.random.get_state()  # noqa: NPY002
    try:
        simulate_lenses("paper-target", 4, **OPTIONS)
        assert warnings.filters == filters
        assert random.getstate() == python_state
        after = np.random.get_state()  # noqa: NPY002
        np.testing.assert_array_equal(after[1], numpy_state[1])
        assert after[2:] == numpy_state[2:]
        # The patches applied to deeplenstronomy during the call are undone.
        from astropy.cosmology import FlatLambdaCDM
        from deeplenstronomy import distributions, image_generator

        assert image_generator.FlatLambdaCDM is FlatLambdaCDM
        assert not hasattr(distributions, "sklens_des_sky_brightness_cps")
    finally:
        warnings.filters.remove(("error", None, ResourceWarning, None, 0))


def test_load_paper_domains_splits_70_10_20():
    domains = load_paper_domains(10, random_state=SEED, progress=False)
    for domain in (domains.source, domains.target):
        sizes = [len(domain[part].images) for part in ("train", "test", "validation")]
        assert sizes == [7, 2, 1]
        assert len(domain.train.target) == 7
    whole = simulate_lenses("paper-source", 10, random_state=SEED, progress=False)
    np.testing.assert_array_equal(domains.source.test.images, whole.images[7:9])


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_n(n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        simulate_lenses("paper-source", n)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="paper-source.*paper-target|known presets"):
        simulate_lenses("paper-sauce", 4)


def test_config_rejected_by_deeplenstronomy_names_the_file_and_the_reason(tmp_path):
    path = tmp_path / "broken.yaml"
    text = preset_path("paper-source").read_text().replace("SERSIC_ELLIPSE", "NOT_A_PROFILE")
    path.write_text(text)
    with pytest.raises(ValueError, match="broken.yaml") as error:
        simulate_lenses(path, 4, **dict(OPTIONS, progress=False))
    assert "NOT_A_PROFILE" in str(error.value)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("DATASET: [unclosed\n")
    with pytest.raises(ValueError, match="bad.yaml.*not valid YAML"):
        simulate_lenses(path, 4)


def test_unwritable_cache_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="cache_dir .*a-file.* not a writable directory"):
        simulate_lenses("paper-source", 4, cache_dir=blocker / "cache")


def run_python(code: str) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120)


def test_importing_sklens_does_not_import_deeplenstronomy():
    result = run_python("import sys, sklens, sklens.simulation; print('deeplenstronomy' in sys.modules)")
    assert result.stdout.strip() == "False", result.stderr


def test_missing_sim_extra_says_how_to_install():
    result = run_python(
        "import sys; sys.modules['deeplenstronomy'] = None\n"
        "from sklens.simulation import simulate_lenses\n"
        "simulate_lenses('paper-source', 2, progress=False)"
    )
    assert 'pip install "sklens[sim]"' in result.stderr


@pytest.mark.parametrize("random_state", [-1, 1.5, "seed"])
def test_bad_random_state(random_state):
    with pytest.raises(ValueError, match="random_state must be"):
        simulate_lenses("paper-source", 4, random_state=random_state)


def test_another_thread_drawing_from_global_random_does_not_change_the_images():
    """A Dask worker's event loop draws back-off jitter from Python's global ``random`` while a task
    simulates; deeplenstronomy's draws must not share that stream."""
    import threading

    quiet = simulate_lenses("paper-source", 8, random_state=4, progress=False)
    stop = threading.Event()

    def draw_forever():
        while not stop.is_set():
            random.random()

    noisy_neighbour = threading.Thread(target=draw_forever, daemon=True)
    noisy_neighbour.start()
    try:
        busy = simulate_lenses("paper-source", 8, random_state=4, progress=False)
    finally:
        stop.set()
        noisy_neighbour.join()
    np.testing.assert_array_equal(busy.images, quiet.images)
    np.testing.assert_array_equal(busy.target, quiet.target)


def test_a_parameter_can_be_drawn_from_a_population(tmp_path, source):
    """θ_E from a histogram (here all in [1″, 2″]) in place of the preset's uniform prior: the config
    says so, and it is its own cache entry."""
    population = Population([0.5, 1.0, 2.0, 3.0], [0.0, 1.0, 0.0], name="theta_E")
    data = simulate_lenses(
        "paper-source", N, populations={"theta_E": population}, cache_dir=tmp_path, **OPTIONS
    )
    theta = data.target
    assert ((theta >= 1.0) & (theta <= 2.0)).all() and theta.std() > 0.1
    assert not ((source.target >= 1.0) & (source.target <= 2.0)).all()
    assert "sklens_binned" in data.config and data.images.shape == source.images.shape
    plain = simulate_lenses("paper-source", N, cache_dir=tmp_path, **OPTIONS)
    assert plain.cache_path != data.cache_path and plain.n_simulated_chunks == 2
    np.testing.assert_array_equal(plain.images, source.images)
    # The changed configuration is a runnable file of its own.
    path = tmp_path / "resimulated.yaml"
    path.write_text(data.config)
    np.testing.assert_array_equal(simulate_lenses(path, N, **OPTIONS).target, theta)


def test_population_simulator_draws_under_the_population_and_transforms_the_images():
    import pickle

    population = Population([0.5, 1.0, 3.0], [1.0, 0.0], name="theta_E")
    simulator = PopulationSimulator("paper-source", 8, transform=np.negative, progress=False)
    X, y = pickle.loads(pickle.dumps(simulator))(population, random_state=1)
    data = simulate_lenses(
        "paper-source", 8, random_state=1, populations={"theta_E": population}, progress=False
    )
    np.testing.assert_array_equal(X, -data.images)
    np.testing.assert_array_equal(y, data.target)
    assert (y <= 1.0).all()


def test_bad_populations_are_refused_before_simulating():
    population = Population([0.5, 3.0], [1.0])
    with pytest.raises(ValueError, match="unknown parameter 'theta'"):
        simulate_lenses("paper-source", 4, populations={"theta": population}, progress=False)
    with pytest.raises(TypeError, match=r"populations\['theta_E'\] must be a sklens.population.Population"):
        simulate_lenses("paper-source", 4, populations={"theta_E": [0.5, 3.0]}, progress=False)
    with pytest.raises(TypeError, match="populations must map parameter names to populations"):
        simulate_lenses("paper-source", 4, populations=population, progress=False)
    with pytest.raises(ValueError, match="lens_redshift is not a profile parameter"):
        simulate_lenses("paper-source", 4, populations={"lens_redshift": population}, progress=False)


def test_a_binned_quantile_inverts_the_histograms_cumulative_distribution():
    from sklens.simulation._populations import binned_quantile

    edges, weights = [0.0, 1.0, 3.0], [0.5, 0.5]
    assert [binned_quantile(u, edges, weights) for u in (0.0, 0.25, 0.5, 0.75, 1.0)] == [
        0.0,
        0.5,
        1.0,
        2.0,
        3.0,
    ]
    assert binned_quantile(0.5, [0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 1.0]) in (
        1.0,
        2.0,
    )  # an empty bin: its edges
