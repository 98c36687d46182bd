"""FITS files on disk -> Pipeline(FITSLoader, ImageNormalizer, DANNRegressor) -> predict -> score."""

import pickle

import numpy as np
import pytest
from astropy.io import fits
from sklearn.pipeline import make_pipeline

from sklens import DANNRegressor
from sklens.preprocessing import FITSLoader, ImageNormalizer


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """20 bright source and 20 faint (23x) target 16x16 cutouts; the label is the blob width."""
    folder = tmp_path_factory.mktemp("e2e")
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[:16, :16] - 8
    paths, widths = {}, {}
    for domain, amplitude in (("source", 23.0), ("target", 1.0)):
        widths[domain] = rng.uniform(1.0, 3.0, 20)
        paths[domain] = []
        for i, width in enumerate(widths[domain]):
            image = amplitude * np.exp(-(xx**2 + yy**2) / (2 * width**2))
            image += rng.normal(scale=0.05, size=image.shape)
            path = folder / f"{domain}{i:02d}.fits"
            fits.PrimaryHDU(image.astype(">f4")).writeto(path)
            paths[domain].append(str(path))
    return paths, widths


def test_fits_to_dann_pipeline_with_target_files(survey):
    paths, widths = survey
    X = paths["source"] + paths["target"]
    y = np.concatenate([widths["source"], np.full(20, np.nan)])  # NaN: unlabelled target files
    pipe = make_pipeline(
        FITSLoader(),
        ImageNormalizer(method="scale", scope="domain"),
        DANNRegressor(max_epochs=2, batch_size=8, lr=1e-3, random_state=0),
    )

    pipe.fit(X, y)

    dann = pipe.named_steps["dannregressor"]
    assert dann.n_target_rows_ == 20  # the target files reached the regressor, normalised
    assert dann.input_shape_ == (1, 16, 16)
    predictions = pipe.predict(paths["target"])
    assert predictions.shape == (20,) and np.isfinite(predictions).all()
    target_r2 = pipe.score(paths["target"], widths["target"])
    assert np.isfinite(target_r2)
    pipe.set_params(imagenormalizer__domain="source")  # source files: source statistics
    assert np.isfinite(pipe.score(paths["source"], widths["source"]))
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict(paths["source"]), pipe.predict(paths["source"]))
