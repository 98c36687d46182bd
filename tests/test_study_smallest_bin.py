"""studies/study_smallest_bin.py: options it cannot honour are refused before any data is loaded."""

import pytest


@pytest.fixture
def study(load_script):
    return load_script("studies/study_smallest_bin.py")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--targets", "center_x", "theta_E"], "--targets must start with theta_E"),
        (["--variant", "flow", "--members", "2"], "the flow variant scores one model"),
        (["--variant", "flow", "--targets", "theta_E", "e1"], "the flow variant scores one model"),
    ],
)
def test_options_it_cannot_honour_are_refused_before_loading_data(study, tmp_path, capsys, options, message):
    cache = tmp_path / "cache"
    with pytest.raises(SystemExit) as exit_info:
        study.main(["--cache-dir", str(cache), *options])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not cache.exists()


def test_theta_e_is_read_from_the_first_column_of_one_or_several_parameters(study):
    assert study.first_column([1.0, 2.0]).tolist() == [1.0, 2.0]
    assert study.first_column([[1.0, 5.0], [2.0, 6.0]]).tolist() == [1.0, 2.0]
