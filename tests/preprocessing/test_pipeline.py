"""The transformers in scikit-learn Pipelines, from FITS files on disk, packed source + target."""

import pickle

import numpy as np
import pytest
from astropy.io import fits
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklens.preprocessing import CenterCrop, FITSLoader, ImageNormalizer, SelectBands


def _flatten(images):
    return images.reshape(len(images), -1)


class SourceRowsRidge(RegressorMixin, BaseEstimator):
    """Ridge on the labelled rows; records the unlabelled (target) rows it was given."""

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, X, y):
        labelled = ~np.isnan(np.asarray(y, dtype=float))
        self.target_rows_seen_ = X[~labelled]
        self.ridge_ = Ridge(alpha=self.alpha).fit(X[labelled], np.asarray(y)[labelled])
        return self

    def predict(self, X):
        return self.ridge_.predict(X)


def _blobs(widths, amplitude, rng, size=14):
    """Round Gaussian 'lenses' whose width is the label, with a little pixel noise."""
    yy, xx = np.mgrid[:size, :size] - size // 2
    r2 = (xx**2 + yy**2)[None]
    images = amplitude * np.exp(-r2 / (2 * widths[:, None, None] ** 2))
    return images + rng.normal(scale=0.02 * amplitude, size=images.shape)


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """FITS files of a bright source domain and a 23x fainter target domain, with labels."""
    folder = tmp_path_factory.mktemp("survey")
    rng = np.random.default_rng(3)
    widths = {"source": rng.uniform(1.0, 3.0, 40), "target": rng.uniform(1.0, 3.0, 20)}
    amplitude = {"source": 23.0, "target": 1.0}
    paths = {}
    for domain in ("source", "target"):
        images = _blobs(widths[domain], amplitude[domain], rng)
        paths[domain] = []
        for i, image in enumerate(images):
            path = folder / f"{domain}{i:03d}.fits"
            fits.PrimaryHDU(image.astype(">f4")).writeto(path)  # big-endian, as archives hold it
            paths[domain].append(str(path))
    return paths, widths


def _pipeline(normalizer):
    return make_pipeline(
        FITSLoader(),
        CenterCrop(size=12),
        normalizer,
        FunctionTransformer(_flatten),
        SourceRowsRidge(alpha=1e-2),
    )


def _packed(paths, widths):
    X = paths["source"] + paths["target"]
    y = np.concatenate([widths["source"], np.full(len(paths["target"]), np.nan)])
    return X, y


def test_packed_target_rows_pass_through_every_transform(survey):
    paths, widths = survey
    X, y = _packed(paths, widths)
    pipe = _pipeline(ImageNormalizer(method="scale", scope="domain")).fit(X, y)

    seen = pipe[-1].target_rows_seen_
    assert seen.shape == (20, 12 * 12)
    normalizer = pipe.named_steps["imagenormalizer"]
    assert (normalizer.n_source_rows_, normalizer.n_target_rows_) == (40, 20)
    # The target rows reached the regressor scaled by the target's own statistics.
    target_images = FITSLoader().transform(paths["target"])[:, :, 1:13, 1:13]
    np.testing.assert_allclose(seen, _flatten(target_images / normalizer.scale_["target"]), rtol=1e-5)


@pytest.mark.parametrize(
    "normalizer",
    [
        ImageNormalizer(method="scale", scope="domain"),
        ImageNormalizer(method="scale", scope="image"),
    ],
)
def test_scaling_by_domain_or_image_bridges_the_flux_gap(survey, normalizer):
    paths, widths = survey
    X, y = _packed(paths, widths)
    raw = _pipeline(FunctionTransformer()).fit(X, y)
    scaled = _pipeline(normalizer).fit(X, y)

    raw_r2 = r2_score(widths["target"], raw.predict(paths["target"]))
    scaled_r2 = r2_score(widths["target"], scaled.predict(paths["target"]))

    assert scaled_r2 > 0.8 > raw_r2


def test_pipeline_clone_and_pickle_predict_the_same(survey):
    paths, widths = survey
    X, y = _packed(paths, widths)
    pipe = _pipeline(ImageNormalizer(method="asinh", scope="domain", softening=2.0))
    assert clone(pipe).get_params()["imagenormalizer__softening"] == 2.0
    fitted = pipe.fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(paths["target"]), fitted.predict(paths["target"]))


def test_grid_search_over_preprocessing_parameters(survey):
    paths, widths = survey
    pipe = make_pipeline(
        FITSLoader(),
        SelectBands(0),
        CenterCrop(size=12),
        ImageNormalizer(scope="image"),
        FunctionTransformer(_flatten),
        Ridge(alpha=1e-2),
    )
    search = GridSearchCV(
        pipe,
        {"imagenormalizer__method": ["scale", "minmax"], "centercrop__size": [8, 12]},
        cv=2,
    )
    search.fit(np.array(paths["source"]), widths["source"])
    assert set(search.best_params_) == {"imagenormalizer__method", "centercrop__size"}
    assert search.best_score_ > 0.5
