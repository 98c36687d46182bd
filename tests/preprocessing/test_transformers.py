"""The sklens.preprocessing transformers alone: values, parameters, refusals, clone and pickle."""

import pickle

import numpy as np
import pytest
from astropy.io import fits
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from sklens.io import FITSReadError
from sklens.preprocessing import CenterCrop, FITSLoader, ImageNormalizer, SelectBands

RNG = np.random.default_rng(7)


@pytest.fixture
def images():
    return RNG.normal(loc=3.0, scale=2.0, size=(6, 2, 9, 8)).astype(np.float32)


@pytest.fixture
def packed():
    """Source rows 23x brighter than target rows; target rows have NaN labels."""
    source = RNG.normal(size=(5, 2, 8, 8)) * np.array([23.0, 46.0])[None, :, None, None]
    target = RNG.normal(size=(4, 2, 8, 8)) * np.array([1.0, 2.0])[None, :, None, None]
    X = np.concatenate([source, target]).astype(np.float32)
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0] + [np.nan] * 4)
    return X, y


# --- FITSLoader -------------------------------------------------------------------------------


@pytest.fixture
def fits_paths(tmp_path):
    data = RNG.normal(size=(3, 2, 10, 10)).astype(">f4")
    paths = []
    for i, cube in enumerate(data):
        fits.PrimaryHDU(cube).writeto(tmp_path / f"{i}.fits")
        paths.append(str(tmp_path / f"{i}.fits"))
    return paths, data.astype(np.float32)


def test_fits_loader_reads_paths_in_order_without_fit(fits_paths):
    paths, data = fits_paths
    loader = FITSLoader(bands=[1], size=6)
    out = loader.transform(paths[::-1])
    np.testing.assert_array_equal(out, data[::-1, 1:2, 2:8, 2:8])
    assert out.dtype == np.float32 and out.dtype.isnative


def test_fits_loader_names_the_bad_file(fits_paths, tmp_path):
    paths, _ = fits_paths
    bad = tmp_path / "bad.fits"
    bad.write_text("nope")
    with pytest.raises(FITSReadError, match="bad.fits"):
        FITSLoader().fit_transform([paths[0], str(bad)])


def test_fits_loader_refuses_bad_parameters_at_fit(fits_paths):
    paths, _ = fits_paths
    with pytest.raises(ValueError, match="nan_policy must be one of"):
        FITSLoader(nan_policy="mask").fit(paths)
    with pytest.raises(ValueError, match="size must"):
        FITSLoader(size=-3).fit(paths)


def test_fits_loader_clone_and_pickle(fits_paths):
    paths, _ = fits_paths
    loader = FITSLoader(hdu=0, size=(4, 4), nan_policy="fill", fill_value=-1.0)
    assert clone(loader).get_params() == loader.get_params()
    restored = pickle.loads(pickle.dumps(loader.fit(paths)))
    np.testing.assert_array_equal(restored.transform(paths), loader.transform(paths))


# --- CenterCrop and SelectBands -----------------------------------------------------------------


def test_center_crop_then_pad_restores_the_centre(images):
    cropped = CenterCrop(size=(5, 4)).fit_transform(images)
    np.testing.assert_array_equal(cropped, images[:, :, 2:7, 2:6])
    restored = CenterCrop(size=(9, 8), pad_value=np.nan).fit_transform(cropped)
    np.testing.assert_array_equal(restored[:, :, 2:7, 2:6], cropped)
    assert np.isnan(restored).sum() == images[:, :, :, :].size - cropped.size  # NaN pads pass


def test_center_crop_never_returns_a_view_of_its_input(images):
    out = CenterCrop(size=(9, 8)).transform(images)
    out[:] = 0
    assert images.any()


def test_select_bands_order_and_refusals(images):
    selector = SelectBands([1, 0]).fit(images)
    np.testing.assert_array_equal(selector.transform(images), images[:, [1, 0]])
    assert selector.n_channels_in_ == 2
    with pytest.raises(ValueError, match="fitted on 2"):
        selector.transform(images[:, :1])
    with pytest.raises(ValueError, match="asks for band 2, but X has 2 channels"):
        SelectBands(2).fit(images)
    with pytest.raises(ValueError, match="bands must be"):
        SelectBands([]).fit(images)


@pytest.mark.parametrize("transformer", [CenterCrop(size=4), SelectBands([0])])
def test_stateless_transformers_clone_and_pickle(transformer, images):
    fitted = clone(transformer).fit(images)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(images), fitted.transform(images))


# --- ImageNormalizer ----------------------------------------------------------------------------


def _per_image(images, reduce):
    return reduce(images.astype(np.float64), axis=(2, 3), keepdims=True)


def _mad_std(pixels, axis):
    median = np.median(pixels, axis=axis, keepdims=True)
    return 1.482602218505602 * np.median(np.abs(pixels - median), axis=axis, keepdims=True)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("standard", lambda x: (x - _per_image(x, np.mean)) / _per_image(x, np.std)),
        ("scale", lambda x: x / _per_image(x, np.std)),
        (
            "robust",
            lambda x: (x - _per_image(x, np.median)) / _mad_std(x.astype(np.float64), (2, 3)),
        ),
        (
            "minmax",
            lambda x: (x - _per_image(x, np.min)) / (_per_image(x, np.max) - _per_image(x, np.min)),
        ),
        ("asinh", lambda x: np.arcsinh(x / (0.5 * _mad_std(x.astype(np.float64), (2, 3))))),
    ],
)
def test_per_image_methods_match_their_formulas(images, method, expected):
    out = ImageNormalizer(method=method, scope="image", softening=0.5).fit_transform(images)
    assert out.dtype == np.float32 and out.shape == images.shape
    np.testing.assert_allclose(out, expected(images), rtol=1e-5, atol=1e-5)


def test_per_image_scaling_ignores_brightness_and_domain(packed):
    X, _ = packed
    out = ImageNormalizer(method="scale", scope="image").fit(X).transform(X)
    np.testing.assert_allclose(out.std(axis=(2, 3)), 1.0, rtol=1e-5)


def test_dataset_scope_learns_in_fit_and_applies_to_new_data(images):
    normalizer = ImageNormalizer(method="standard", scope="dataset").fit(images)
    np.testing.assert_allclose(normalizer.center_["all"], images.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(normalizer.scale_["all"], images.std(axis=(0, 2, 3)), rtol=1e-5)
    new = images[:2] * 10
    expected = (new - normalizer.center_["all"][None, :, None, None]) / normalizer.scale_["all"][
        None, :, None, None
    ]
    np.testing.assert_allclose(normalizer.transform(new), expected, rtol=1e-5)


def test_dataset_scope_pooled_over_channels(images):
    normalizer = ImageNormalizer(method="minmax", scope="dataset", per_channel=False).fit(images)
    out = normalizer.transform(images)
    assert normalizer.scale_["all"].shape == (1,)
    assert out.min() == pytest.approx(0.0) and out.max() == pytest.approx(1.0)


def test_domain_scope_learns_each_domains_scale(packed):
    X, y = packed
    normalizer = ImageNormalizer(method="scale", scope="domain").fit(X, y)
    assert (normalizer.n_source_rows_, normalizer.n_target_rows_) == (5, 4)
    np.testing.assert_allclose(normalizer.scale_["source"], X[:5].std(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(normalizer.scale_["target"], X[5:].std(axis=(0, 2, 3)), rtol=1e-5)
    ratio = normalizer.scale_["source"] / normalizer.scale_["target"]
    assert np.all((ratio > 10) & (ratio < 50))  # the simulated ~23x flux gap


def test_domain_scope_fit_transform_uses_each_rows_domain(packed):
    X, y = packed
    normalizer = ImageNormalizer(method="scale", scope="domain")
    out = normalizer.fit_transform(X, y)
    np.testing.assert_allclose(out[:5].std(axis=(0, 2, 3)), 1.0, rtol=1e-4)
    np.testing.assert_allclose(out[5:].std(axis=(0, 2, 3)), 1.0, rtol=1e-4)


def test_domain_scope_transform_uses_the_chosen_domain(packed):
    X, y = packed
    normalizer = ImageNormalizer(method="scale", scope="domain").fit(X, y)
    target_scale = normalizer.scale_["target"][None, :, None, None]
    np.testing.assert_allclose(normalizer.transform(X[5:]), X[5:] / target_scale, rtol=1e-5)
    normalizer.set_params(domain="source")  # statistics stay; only the choice changes
    source_scale = normalizer.scale_["source"][None, :, None, None]
    np.testing.assert_allclose(normalizer.transform(X[:5]), X[:5] / source_scale, rtol=1e-5)


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (None, "needs y in fit"),
        (np.ones(9), "needs target-domain rows"),
        (np.full(9, np.nan), "needs source-domain rows"),
        (np.ones(4), "y has 4 rows but X has 9"),
    ],
)
def test_domain_scope_refuses_unusable_labels(packed, y, message):
    X, _ = packed
    with pytest.raises(ValueError, match=message):
        ImageNormalizer(scope="domain").fit(X, y)


def test_domain_scope_multi_output_labels(packed):
    X, y = packed
    Y = np.column_stack([y, y * 2])
    normalizer = ImageNormalizer(scope="domain").fit(X, Y)
    assert normalizer.n_target_rows_ == 4
    Y[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN in some outputs only .*row 0"):
        ImageNormalizer(scope="domain").fit(X, Y)


def test_constant_images_get_unit_scale(images):
    constant = np.full((2, 2, 4, 4), 5.0, dtype=np.float32)
    out = ImageNormalizer(method="standard").fit_transform(constant)
    np.testing.assert_array_equal(out, 0.0)
    assert np.isfinite(ImageNormalizer(method="asinh").fit_transform(constant)).all()


def test_normalizer_refusals(images):
    with pytest.raises(ValueError, match="method must be one of"):
        ImageNormalizer(method="zscore").fit(images)
    with pytest.raises(ValueError, match="softening must be a positive number"):
        ImageNormalizer(method="asinh", softening=0).fit(images)
    with pytest.raises(NotFittedError):
        ImageNormalizer().transform(images)
    with pytest.raises(ValueError, match="fitted on 2"):
        ImageNormalizer().fit(images).transform(images[:, :1])
    holes = images.copy()
    holes[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        ImageNormalizer().fit(holes)


def test_normalizer_does_not_modify_its_input(images):
    before = images.copy()
    ImageNormalizer(method="robust", scope="dataset").fit(images).transform(images)
    np.testing.assert_array_equal(images, before)


@pytest.mark.parametrize("scope", ["image", "dataset", "domain"])
def test_normalizer_clone_and_pickle(packed, scope):
    X, y = packed
    normalizer = ImageNormalizer(method="asinh", scope=scope, softening=3.0, domain="source")
    assert clone(normalizer).get_params() == normalizer.get_params()
    fitted = normalizer.fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    with pytest.raises(NotFittedError):
        clone(fitted).transform(X)
