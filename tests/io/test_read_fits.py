"""read_fits on real FITS files written by astropy, checked against the arrays written."""

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from sklens.io import FITSReadError, read_fits, resolve_sources

RNG = np.random.default_rng(42)


def _image(shape=(12, 10), dtype=np.float32):
    return (RNG.normal(size=shape) * 100).astype(dtype)


def _write(path, data, **header):
    hdu = fits.PrimaryHDU(data)
    for key, value in header.items():
        hdu.header[key] = value
    hdu.writeto(path)
    return path


def _as_result(data):
    """What read_fits should return for one 2-D image or 3-D cube."""
    data = np.asarray(data, dtype=np.float32)
    return data[None, None] if data.ndim == 2 else data[None]


# --- data types, byte order and scaling ------------------------------------------------------


@pytest.mark.parametrize("dtype", [">f4", "<f4", ">f8", "<f8", ">i2", "<i4", "u1"])
def test_any_byte_order_and_type_comes_back_native_float32(tmp_path, dtype):
    data = _image(dtype=dtype)
    path = _write(tmp_path / "img.fits", data)

    images = read_fits(path)

    assert images.dtype == np.float32 and images.dtype.isnative
    np.testing.assert_array_equal(images, _as_result(data))


def test_bscale_bzero_integer_image_is_scaled(tmp_path):
    raw = np.arange(-60, 60, dtype=np.int16).reshape(12, 10)
    path = _write(tmp_path / "scaled.fits", raw, BSCALE=0.25, BZERO=1000.0)
    np.testing.assert_allclose(read_fits(path), _as_result(raw * 0.25 + 1000.0))


def test_unsigned_16_bit_image_via_bzero(tmp_path):
    data = np.array([[0, 1, 40000, 65535]], dtype=np.uint16)
    path = tmp_path / "u16.fits"
    fits.PrimaryHDU(data).writeto(path)
    with fits.open(path, do_not_scale_image_data=True) as hdul:
        assert hdul[0].header["BZERO"] == 32768  # stored as int16 + BZERO on disk
    np.testing.assert_array_equal(read_fits(path), _as_result(data))


def test_blank_integer_pixels_become_nan(tmp_path):
    raw = np.arange(120, dtype=np.int16).reshape(12, 10)
    raw[3, 4] = -999
    path = _write(tmp_path / "blank.fits", raw, BLANK=-999, BSCALE=1.0, BZERO=0.0)
    images = read_fits(path, nan_policy="propagate")
    assert np.isnan(images[0, 0, 3, 4]) and np.isfinite(images).sum() == 119


# --- compression ---------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["RICE_1", "GZIP_1", "GZIP_2", "HCOMPRESS_1", "PLIO_1"])
def test_tile_compressed_fz_is_read_exactly(tmp_path, compression):
    data = RNG.integers(0, 2000, size=(16, 16)).astype(np.int32)
    path = tmp_path / "img.fits.fz"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type=compression)]).writeto(path)
    np.testing.assert_array_equal(read_fits(path), _as_result(data))


def test_lossless_float_tile_compression(tmp_path):
    data = _image()
    path = tmp_path / "float.fits.fz"
    hdu = fits.CompImageHDU(data, compression_type="GZIP_2", quantize_level=0)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    np.testing.assert_array_equal(read_fits(path), _as_result(data))


def test_gzip_compressed_file(tmp_path):
    data = _image(shape=(3, 12, 10))
    plain = _write(tmp_path / "cube.fits", data)
    packed = tmp_path / "cube.fits.gz"
    with open(plain, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    np.testing.assert_array_equal(read_fits(packed), _as_result(data))
    np.testing.assert_array_equal(
        read_fits(packed, size=(6, 6), bands=[2]), read_fits(plain)[:, 2:, 3:9, 2:8]
    )


# --- HDUs --------------------------------------------------------------------------------------


@pytest.fixture
def multi_extension(tmp_path):
    sci, err = _image(), _image()
    path = tmp_path / "mef.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=[1.0])], name="META"),
            fits.ImageHDU(sci, name="SCI"),
            fits.ImageHDU(err, name="ERR"),
        ]
    ).writeto(path)
    return path, sci, err


def test_first_image_hdu_with_data_by_default(multi_extension):
    path, sci, _ = multi_extension
    np.testing.assert_array_equal(read_fits(path), _as_result(sci))


@pytest.mark.parametrize("hdu", [3, "ERR", "err"])
def test_hdu_by_index_or_name(multi_extension, hdu):
    path, _, err = multi_extension
    np.testing.assert_array_equal(read_fits(path, hdu=hdu), _as_result(err))


@pytest.mark.parametrize(
    ("hdu", "reason"),
    [
        (0, "HDU 0 has no data"),
        (1, "HDU 1 is a BinTableHDU, not an image"),
        (7, "it has no HDU 7"),
        ("WHT", "it has no HDU 'WHT'"),
    ],
)
def test_unusable_hdu_names_file_reason_and_lists_hdus(multi_extension, hdu, reason):
    path, _, _ = multi_extension
    with pytest.raises(FITSReadError, match=f"mef.fits.*{reason}.*2 SCI: image, 12x10") as info:
        read_fits(path, hdu=hdu)
    assert info.value.source == str(path)


def test_file_without_any_image_data(tmp_path):
    path = tmp_path / "empty.fits"
    fits.PrimaryHDU().writeto(path)
    with pytest.raises(FITSReadError, match="empty.fits.*no HDU holds image data"):
        read_fits(path)


# --- cubes, bands and per-band files ------------------------------------------------------------


def test_cube_and_band_selection(tmp_path):
    cube = _image(shape=(4, 12, 10))
    path = _write(tmp_path / "cube.fits", cube)
    np.testing.assert_array_equal(read_fits(path), _as_result(cube))
    np.testing.assert_array_equal(read_fits(path, bands=[3, 0]), _as_result(cube[[3, 0]]))
    np.testing.assert_array_equal(read_fits(path, bands=2), _as_result(cube[[2]]))
    with pytest.raises(FITSReadError, match="band 4, but the file has 4"):
        read_fits(path, bands=[4])


def test_per_band_files(tmp_path):
    bands = {name: [_image() for _ in range(3)] for name in "grz"}
    objects = []
    for i in range(3):
        objects.append([_write(tmp_path / f"obj{i}_{name}.fits", bands[name][i]) for name in "grz"])

    images = read_fits(objects)

    assert images.shape == (3, 3, 12, 10)
    for i in range(3):
        np.testing.assert_array_equal(images[i], np.stack([bands[name][i] for name in "grz"]))
    np.testing.assert_array_equal(read_fits(objects, bands=[2, 0]), images[:, [2, 0]])
    as_frame = pd.DataFrame([[str(p) for p in obj] for obj in objects], columns=list("grz"))
    np.testing.assert_array_equal(read_fits(as_frame), images)


def test_unselected_band_files_are_not_needed(tmp_path):
    g = _write(tmp_path / "g.fits", _image())
    missing_r = tmp_path / "r.fits"
    np.testing.assert_array_equal(read_fits([[g, missing_r]], bands=[0]), _as_result(read_fits(g)[0, 0]))
    with pytest.raises(FileNotFoundError, match="r.fits"):
        read_fits([[g, missing_r]])


def test_per_band_file_must_hold_one_image(tmp_path):
    single = _write(tmp_path / "g.fits", _image())
    cube = _write(tmp_path / "r.fits", _image(shape=(2, 12, 10)))
    with pytest.raises(FITSReadError, match="r.fits.*one 2-D image, but it holds 2 planes"):
        read_fits([[single, cube]])


def test_per_band_files_of_different_sizes(tmp_path):
    g = _write(tmp_path / "g.fits", _image((12, 10)))
    r = _write(tmp_path / "r.fits", _image((14, 10)))
    with pytest.raises(FITSReadError, match=r"band images differ in size .*12x10.*14x10"):
        read_fits([[g, r]])
    assert read_fits([[g, r]], size=(12, 10)).shape == (1, 2, 12, 10)


def test_objects_with_different_band_counts_are_refused_before_reading(tmp_path):
    with pytest.raises(ValueError, match="same number of per-band files"):
        read_fits([["a.fits", "b.fits"], ["c.fits"]])
    with pytest.raises(ValueError, match="asks for band 2, but each object has 2 files"):
        read_fits([["a.fits", "b.fits"]], bands=[2])


@pytest.mark.parametrize("shape", [(10,), (2, 3, 4, 5), (1, 2, 3, 4, 5)])
def test_wrong_dimensions(tmp_path, shape):
    path = _write(tmp_path / "odd.fits", np.zeros(shape, dtype=np.float32))
    with pytest.raises(FITSReadError, match=f"odd.fits.*{len(shape)}"):
        read_fits(path)


# --- NaN policy ---------------------------------------------------------------------------------


@pytest.fixture
def nan_file(tmp_path):
    data = _image()
    data[0, 0] = data[11, 9] = np.nan  # all three outside the central 6x6
    data[1, 1] = np.inf
    return _write(tmp_path / "holes.fits", data), data


def test_nan_raise_names_file_and_counts(nan_file):
    path, _ = nan_file
    with pytest.raises(FITSReadError, match="holes.fits.*2 NaN and 1 infinite pixels"):
        read_fits(path)


def test_nan_fill_and_propagate(nan_file):
    path, data = nan_file
    filled = read_fits(path, nan_policy="fill", fill_value=-1.0)
    expected = np.where(np.isfinite(data), data, -1.0)
    np.testing.assert_array_equal(filled, _as_result(expected))
    np.testing.assert_array_equal(read_fits(path, nan_policy="propagate"), _as_result(data))


def test_nan_outside_the_crop_does_not_count(nan_file):
    path, data = nan_file
    np.testing.assert_array_equal(read_fits(path, size=(6, 6)), _as_result(data[3:9, 2:8]))


# --- sizes --------------------------------------------------------------------------------------


def test_mixed_sizes_error_lists_sizes_and_examples(tmp_path):
    for i, shape in enumerate([(12, 10), (12, 10), (15, 15)]):
        _write(tmp_path / f"{i}.fits", _image(shape))
    with pytest.raises(ValueError, match=r"2 x \(C=1, H=12, W=10\).*1 x \(C=1, H=15, W=15\) e.g. '.*2.fits'"):
        read_fits(tmp_path)


def test_size_centre_crops_and_pads(tmp_path):
    small, large = _image((4, 5)), _image((9, 9))
    _write(tmp_path / "0.fits", small)
    _write(tmp_path / "1.fits", large)

    images = read_fits(tmp_path, size=(6, 6), pad_value=-5.0)

    padded = np.full((6, 6), -5.0, dtype=np.float32)
    padded[1:5, 1:6] = small  # centre pixel (2, 2) of the small image lands on (3, 3)
    np.testing.assert_array_equal(images[0, 0], padded)
    np.testing.assert_array_equal(images[1, 0], large[1:7, 1:7])  # centre (4, 4) -> (3, 3)


def test_large_file_crop_reads_the_centre(tmp_path):
    data = np.arange(400 * 300, dtype=np.float32).reshape(400, 300)
    path = _write(tmp_path / "big.fits", data)
    np.testing.assert_array_equal(read_fits(path, size=4)[0, 0], data[198:202, 148:152])


# --- bad files -----------------------------------------------------------------------------------


@pytest.fixture
def good_file(tmp_path):
    return _write(tmp_path / "good.fits", _image())


def test_missing_files_are_all_listed_before_reading(tmp_path, good_file):
    with pytest.raises(FileNotFoundError, match="2 of the FITS files do not exist: '.*a.fits', '.*b.fits'"):
        read_fits([tmp_path / "a.fits", good_file, tmp_path / "b.fits"])


def test_not_a_fits_file(tmp_path):
    path = tmp_path / "notes.fits"
    path.write_text("RA DEC\n10.0 20.0\n" * 100)
    with pytest.raises(FITSReadError, match="notes.fits.*not a FITS file"):
        read_fits(path)


@pytest.mark.parametrize("header", [{}, {"BSCALE": 2.0, "BZERO": 1.0}])  # memmap or not
def test_truncated_file(tmp_path, header):
    good_file = _write(tmp_path / "good.fits", _image(dtype=np.int16), **header)
    truncated = tmp_path / "cut.fits"
    truncated.write_bytes(good_file.read_bytes()[: 2880 + 100])
    with pytest.raises(
        FITSReadError,
        match=r"cut.fits.*truncated.*declares \(2980 bytes\)",
    ):
        read_fits(truncated)


def test_truncated_gzip_file(tmp_path, good_file):
    packed = tmp_path / "cut.fits.gz"
    packed.write_bytes(gzip.compress(good_file.read_bytes())[:200])
    with pytest.raises(FITSReadError, match="cut.fits.gz"):
        read_fits(packed)


def test_corrupted_header(tmp_path, good_file):
    raw = bytearray(good_file.read_bytes())
    raw[80:160] = b"NAXIS1  = 'garbage'" + b" " * 61
    corrupt = tmp_path / "corrupt.fits"
    corrupt.write_bytes(bytes(raw))
    with pytest.raises(FITSReadError, match="corrupt.fits"):
        read_fits(corrupt)


def test_corrupted_data_caught_by_datasum(tmp_path):
    path = tmp_path / "summed.fits"
    fits.PrimaryHDU(_image()).writeto(path, checksum=True)
    raw = bytearray(path.read_bytes())
    raw[2880 + 10] ^= 0x40
    path.write_bytes(bytes(raw))
    with pytest.raises(FITSReadError, match="summed.fits.*DATASUM"):
        read_fits(path)


def test_skip_returns_what_was_read_and_what_was_skipped(tmp_path, good_file, nan_file):
    text = tmp_path / "text.fits"
    text.write_text("not FITS")
    sources = [good_file, tmp_path / "missing.fits", text, nan_file[0], good_file]

    with pytest.warns(UserWarning, match="skipped 3 of 5"):
        result = read_fits(sources, errors="skip")

    np.testing.assert_array_equal(result.indices, [0, 4])
    assert result.sources == [str(good_file), str(good_file)]
    assert result.images.shape == (2, 1, 12, 10)
    skipped = dict(result.skipped)
    assert set(skipped) == {str(tmp_path / "missing.fits"), str(text), str(nan_file[0])}
    assert "does not exist" in skipped[str(tmp_path / "missing.fits")]
    assert "NaN" in skipped[str(nan_file[0])]


def test_skip_with_nothing_readable_raises(tmp_path):
    with pytest.raises(ValueError, match="All 1 objects were skipped"):
        read_fits([tmp_path / "missing.fits"], errors="skip")


# --- sources, parallel reads and progress ---------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    data = [_image() for _ in range(6)]
    for i, image in enumerate(data):
        _write(tmp_path / f"cut{i}.fits", image)
    (tmp_path / "README.txt").write_text("not a FITS file, ignored by the directory listing")
    return tmp_path, np.stack(data)[:, None]


def test_directory_glob_list_and_array_sources_agree(folder):
    path, expected = folder
    np.testing.assert_array_equal(read_fits(path), expected)
    np.testing.assert_array_equal(read_fits(str(path / "cut*.fits")), expected)
    paths = sorted(str(p) for p in path.glob("*.fits"))
    np.testing.assert_array_equal(read_fits(np.array(paths)), expected)
    np.testing.assert_array_equal(read_fits(pd.Series(paths[::-1])), expected[::-1])


def test_empty_sources_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no FITS files"):
        read_fits(tmp_path)
    with pytest.raises(FileNotFoundError, match="matches no files"):
        read_fits(str(tmp_path / "*.fits"))
    with pytest.raises(ValueError, match="non-empty sequence"):
        read_fits([])
    with pytest.raises(ValueError, match=r"source\[1\] must be a path"):
        resolve_sources(["a.fits", 3])


def test_parallel_thread_reads_match_serial(folder):
    # The process backend is exercised by test_skip_works_with_process_workers: one pool start
    # (workers import sklens, hence torch) is the slowest part of these tests.
    path, expected = folder
    np.testing.assert_array_equal(read_fits(path, n_jobs=2, backend="threads"), expected)


def test_parallel_read_reports_the_bad_file(folder):
    path, _ = folder
    (path / "cut3.fits").write_bytes(b"broken")
    with pytest.raises(FITSReadError, match="cut3.fits"):
        read_fits(path, n_jobs=2, backend="threads")


def test_progress_bar_shows_rate_and_remaining_time(folder, capsys):
    path, _ = folder
    read_fits(path, progress=True)
    err = capsys.readouterr().err
    assert "Reading FITS" in err and "6/6" in err and "file/s" in err
    read_fits(path)  # 6 files: below the automatic threshold
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nan_policy": "mask"}, "nan_policy must be one of"),
        ({"errors": "ignore"}, "errors must be one of"),
        ({"backend": "dask"}, "backend must be one of"),
        ({"size": (0, 4)}, "size must hold positive ints"),
        ({"size": "big"}, "size must be an int or a"),
        ({"bands": [-1]}, "bands must be"),
        ({"hdu": 1.5}, "hdu must be"),
    ],
)
def test_bad_arguments_are_refused_before_reading(kwargs, message):
    with pytest.raises(ValueError, match=message):
        read_fits("never-read.fits", **kwargs)


@pytest.mark.parametrize("images", [np.zeros((5, 8, 8)), np.zeros((5, 2, 8, 8))])
def test_dataset_files_point_to_read_fits_dataset(tmp_path, images):
    from sklens.io import write_fits

    path = write_fits(tmp_path / "dataset.fits", images)
    with pytest.raises(FITSReadError, match="dataset of 5 images.*read_fits_dataset"):
        read_fits(path)


def test_truncated_tile_compressed_file(tmp_path):
    path = tmp_path / "cut.fits.fz"
    hdu = fits.CompImageHDU(_image(dtype=np.int32), compression_type="RICE_1")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    path.write_bytes(path.read_bytes()[:4000])
    with pytest.raises(FITSReadError, match="cut.fits.fz.*not a multiple of 2880: truncated"):
        read_fits(path)


def test_skip_works_with_process_workers(folder):
    path, expected = folder
    (path / "cut2.fits").write_bytes(b"broken")
    with pytest.warns(UserWarning, match="skipped 1 of 6"):
        result = read_fits(path, errors="skip", n_jobs=2, backend="processes")
    np.testing.assert_array_equal(result.indices, [0, 1, 3, 4, 5])
    np.testing.assert_array_equal(result.images, expected[[0, 1, 3, 4, 5]])
    assert "not a FITS file" in result.skipped[0][1]
