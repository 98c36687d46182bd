"""studies/study_quick_lr.py on a tiny configuration: it runs, and chooses the best rate it measured."""

import json

import pytest


@pytest.mark.slow
def test_the_study_chooses_per_method_the_rate_with_the_best_target_r2(tmp_path, load_script, capsys):
    study = load_script("studies/study_quick_lr.py")
    argv = ["--out", str(tmp_path), "--rates", "1e-4", "1e-2", "--methods", "none", "mmd"]
    result = study.main([*argv, "--seeds", "1", "--n", "24", "--epochs", "1", "--n-jobs", "1", "--quiet"])
    for method in ("none", "mmd"):
        cells = result["table"][method]
        assert set(cells) == {"0.0001", "0.01"}
        best = max(cells, key=lambda rate: cells[rate]["target"]["mean"])
        assert result["chosen"][method] == best
    stored = json.loads((tmp_path / "summary.json").read_text())
    assert stored["chosen"] == result["chosen"]
    assert (tmp_path / "lr-0.0001" / "runs" / "mmd-seed0" / "result.json").exists()
    assert "| MMD |" in capsys.readouterr().out
