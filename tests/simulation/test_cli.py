"""`sklens simulate`: files written, readable, identical to the library's arrays; clear errors."""

import numpy as np
import pandas as pd

from sklens.cli import main
from sklens.io import read_fits_dataset
from sklens.simulation import simulate_lenses


def test_simulate_npz_writes_the_library_arrays(tmp_path, capsys):
    argv = ["simulate", "paper-source", "-n", "6", "-o", str(tmp_path), "--seed", "2"]
    assert main([*argv, "--format", "npz", "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "paper-source.csv",
        "paper-source.npz",
        "paper-source.yaml",
    ]
    expected = simulate_lenses("paper-source", 6, random_state=2, progress=False)
    with np.load(tmp_path / "paper-source.npz") as stored:
        np.testing.assert_array_equal(stored["images"], expected.images)
        np.testing.assert_array_equal(stored["target"], expected.target)
    table = pd.read_csv(tmp_path / "paper-source.csv")
    np.testing.assert_allclose(table["target"], expected.target)
    assert "random_state=2" in (tmp_path / "paper-source.yaml").read_text()
    assert str(tmp_path / "paper-source.npz") in capsys.readouterr().out


def test_existing_output_is_not_overwritten(tmp_path, capsys):
    argv = ["simulate", "paper-source", "-n", "2", "-o", str(tmp_path), "--format", "npz"]
    assert main([*argv, "--quiet"]) == 0
    before = (tmp_path / "paper-source.npz").read_bytes()
    assert main([*argv, "--quiet", "--seed", "5"]) == 2
    assert "already exist" in capsys.readouterr().err
    assert (tmp_path / "paper-source.npz").read_bytes() == before
    assert main([*argv, "--quiet", "--seed", "5", "--overwrite"]) == 0


def test_unknown_preset_is_a_clear_error(tmp_path, capsys):
    assert main(["simulate", "paper-sauce", "-n", "2", "-o", str(tmp_path)]) == 2
    assert "known presets" in capsys.readouterr().err


def test_simulate_fits_is_read_back_by_read_fits_dataset(tmp_path):
    argv = ["simulate", "lens-finding", "-n", "4", "-o", str(tmp_path), "--seed", "1", "--quiet"]
    assert main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lens-finding.fits", "lens-finding.yaml"]
    stored = read_fits_dataset(tmp_path / "lens-finding.fits")
    expected = simulate_lenses("lens-finding", 4, random_state=1, progress=False)
    np.testing.assert_array_equal(stored.images, expected.images)
    np.testing.assert_array_equal(stored.target, expected.target)
    assert stored.metadata.equals(expected.metadata)
