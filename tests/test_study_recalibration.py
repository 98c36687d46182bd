"""studies/study_recalibration.py: what it cannot study is refused before any data is loaded."""

import json
from pathlib import Path

import pytest


@pytest.fixture
def study(load_script):
    return load_script("studies/study_recalibration.py")


def uncertainty_dir(tmp_path: Path) -> Path:
    """A directory laid out as `sklens uncertainty --out` leaves it (one run's model file)."""
    (tmp_path / "runs" / "dann-flow-seed0").mkdir(parents=True)
    (tmp_path / "runs" / "dann-flow-seed0" / "model.pkl").write_bytes(b"")
    (tmp_path / "results.json").write_text(json.dumps({"config": {"n": 40}}))
    return tmp_path


@pytest.mark.parametrize(
    ("make_runs", "options", "message"),
    [
        (lambda tmp: tmp, [], "holds no results.json and runs/"),
        (uncertainty_dir, ["--target-lenses", "10"], "at least 20 labelled lenses"),
    ],
)
def test_what_it_cannot_study_is_refused_before_loading_data(
    study, tmp_path, capsys, make_runs, options, message
):
    cache = tmp_path / "cache"
    runs = make_runs(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        study.main(["--runs", str(runs), "--cache-dir", str(cache), *options])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not cache.exists()
