"""write_fits / read_fits_dataset: lossless round trips, atomic writes, refusals with reasons."""

import gzip

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from sklens.io import read_fits_dataset, write_fits


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    cube = rng.normal(size=(6, 2, 5, 7)).astype(np.float32)
    cube[1, 0, 2, 3] = np.nan
    cube[2, 1, 0, 0] = np.inf
    return cube


def test_round_trip_images_target_and_dataframe_metadata(tmp_path, images):
    target = np.array([0.5, 1.0, np.nan, 2.5, np.nan, 3.0])  # NaN: unlabelled rows of the packed form
    metadata = pd.DataFrame(
        {
            "survey": ["DES", "DES", "LSST", "LSST", "DES", "HSC"],
            "z_lens": np.linspace(0.1, 0.6, 6),
            "seed": np.arange(6, dtype=np.int64) + 2**40,
            "flag": [True, False, True, True, False, False],
            "small": np.arange(-3, 3, dtype=np.int8),
            "count": np.arange(6, dtype=np.uint32),
            "mag": np.linspace(20, 25, 6).astype(np.float32),
        }
    )
    path = write_fits(tmp_path / "data.fits", images, target=target, metadata=metadata)

    data = read_fits_dataset(path)

    np.testing.assert_array_equal(data.images, images)  # NaN and inf kept in place
    assert data.images.dtype == np.float32 and data.images.dtype.isnative
    np.testing.assert_array_equal(data.target, target)
    assert data.target.dtype == np.float64
    pd.testing.assert_frame_equal(data.metadata, metadata)


def test_multi_output_target_and_dict_metadata_round_trip(tmp_path, images):
    target = np.arange(18, dtype=np.float32).reshape(6, 3)
    metadata = {"name": np.array([f"lens{i}" for i in range(6)]), "ellipticity": np.ones((6, 2))}
    path = write_fits(tmp_path / "data.fits", images, target=target, metadata=metadata)

    data = read_fits_dataset(path)

    np.testing.assert_array_equal(data.target, target)
    assert data.target.dtype == np.float32
    assert isinstance(data.metadata, dict) and list(data.metadata) == ["name", "ellipticity"]
    np.testing.assert_array_equal(data.metadata["name"], metadata["name"])
    np.testing.assert_array_equal(data.metadata["ellipticity"], metadata["ellipticity"])


@pytest.mark.parametrize("shape", [(6, 1), (6,)])
def test_single_column_target_keeps_its_shape(tmp_path, images, shape):
    target = np.arange(6, dtype=np.int64).reshape(shape)
    data = read_fits_dataset(write_fits(tmp_path / "data.fits", images, target=target))
    assert data.target.shape == shape and data.target.dtype == np.int64
    np.testing.assert_array_equal(data.target, target)


def test_images_only_and_three_dimensional_images(tmp_path, images):
    data = read_fits_dataset(write_fits(tmp_path / "data.fits", images[:, 0]))
    np.testing.assert_array_equal(data.images, images[:, 0])
    assert data.target is None and data.metadata is None


def test_float64_images_are_stored_as_float32(tmp_path):
    images64 = np.full((2, 1, 3, 3), 1 / 3)
    data = read_fits_dataset(write_fits(tmp_path / "data.fits", images64))
    np.testing.assert_array_equal(data.images, images64.astype(np.float32))


def test_file_layout_is_a_cube_plus_catalog_table(tmp_path, images):
    path = write_fits(tmp_path / "data.fits", images, target=np.zeros(6))
    with fits.open(path) as hdul:
        assert hdul[0].data.shape == images.shape and hdul[0].header["BITPIX"] == -32
        assert hdul["CATALOG"].columns.names == ["target"]
        assert "CHECKSUM" in hdul[0].header and "CHECKSUM" in hdul["CATALOG"].header


def test_gz_name_is_written_gzip_compressed(tmp_path, images):
    path = write_fits(tmp_path / "data.fits.gz", images)
    with gzip.open(path) as handle:
        assert handle.read(6) == b"SIMPLE"
    np.testing.assert_array_equal(read_fits_dataset(path).images, images)


def test_existing_file_is_not_overwritten_without_permission(tmp_path, images):
    path = write_fits(tmp_path / "data.fits", images)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_fits(path, images[:2])
    assert path.read_bytes() == before
    write_fits(path, images[:2], overwrite=True)
    assert read_fits_dataset(path).images.shape[0] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["data.fits"]  # no temporary files left behind


def test_failed_write_leaves_no_file(tmp_path, images):
    with pytest.raises(ValueError, match="non-ASCII"):
        write_fits(tmp_path / "data.fits", images, metadata={"name": ["lens é"] * 6})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": np.zeros(5)}, "target has 5 rows but there are 6 images"),
        ({"target": np.zeros((6, 2, 2))}, r"target must have shape \(n,\) or \(n, k\)"),
        ({"metadata": {"target": np.zeros(6)}}, "reserved for the target"),
        ({"metadata": {"a": np.zeros(6), "A": np.zeros(6)}}, "differ in more than case"),
        ({"metadata": {"name": ["a "] * 6}}, "trailing spaces"),
        ({"metadata": {"mixed": ["a", 1, "b", "c", None, "d"]}}, "mixes value types"),
        ({"metadata": pd.DataFrame({"a": range(6)}, index=range(10, 16))}, "reset_index"),
        ({"metadata": {"when": np.arange(6).astype("datetime64[D]")}}, "dtype datetime64"),
        ({"metadata": [1, 2, 3]}, "metadata must be a pandas DataFrame"),
    ],
)
def test_unstorable_input_is_refused_with_a_reason(tmp_path, images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        write_fits(tmp_path / "data.fits", images, **kwargs)


def test_bad_image_shapes_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"images must have shape .* got shape \(4, 4\)"):
        write_fits(tmp_path / "data.fits", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="empty"):
        write_fits(tmp_path / "data.fits", np.zeros((0, 1, 4, 4)))


def test_missing_directory_is_named(tmp_path, images):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_fits(tmp_path / "nowhere" / "data.fits", images)


def test_reading_a_missing_or_foreign_file_names_it(tmp_path, images):
    with pytest.raises(FileNotFoundError, match="missing.fits"):
        read_fits_dataset(tmp_path / "missing.fits")
    plain = tmp_path / "plain.fits"
    fits.PrimaryHDU(np.zeros((4, 4), dtype=np.float32)).writeto(plain)
    with pytest.raises(ValueError, match="plain.fits.*no 'CATALOG' extension"):
        read_fits_dataset(plain)
    text = tmp_path / "notes.fits"
    text.write_text("not a FITS file\n")
    with pytest.raises(ValueError, match="notes.fits"):
        read_fits_dataset(text)


def test_corrupted_data_fails_the_checksum(tmp_path, images):
    path = write_fits(tmp_path / "data.fits", images)
    raw = bytearray(path.read_bytes())
    raw[2880 + 100] ^= 0xFF  # flip bits inside the image data
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="data.fits"):
        read_fits_dataset(path)


def test_truncated_file_is_refused(tmp_path, images):
    path = write_fits(tmp_path / "data.fits", images)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(ValueError, match="data.fits"):
        read_fits_dataset(path)
