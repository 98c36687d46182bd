"""atomic_write: the final file appears complete or not at all, and no temporary file is left."""

import pytest

from sklens._atomic import atomic_write


class Interrupted(Exception):
    pass


def test_success_moves_the_file_into_place(tmp_path):
    path = tmp_path / "data.fits.gz"
    with atomic_write(path) as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".gz" and ".tmp" in temporary.name
        temporary.write_text("new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["data.fits.gz"]


@pytest.mark.parametrize("overwrite", [True, False])
def test_failure_leaves_no_temporary_and_the_old_file_intact(tmp_path, overwrite):
    path = tmp_path / "table.md"
    if overwrite:
        path.write_text("old")
    with pytest.raises(Interrupted), atomic_write(path, overwrite=overwrite) as temporary:
        temporary.write_text("half")
        raise Interrupted
    assert [p.name for p in tmp_path.iterdir()] == (["table.md"] if overwrite else [])
    if overwrite:
        assert path.read_text() == "old"


def test_without_overwrite_an_existing_file_is_refused_before_writing(tmp_path):
    path = tmp_path / "data.fits"
    path.write_text("old")
    with pytest.raises(FileExistsError, match="overwrite=True"), atomic_write(path, overwrite=False):
        pytest.fail("the block must not run")
    assert path.read_text() == "old"


def test_without_overwrite_a_file_created_meanwhile_is_kept(tmp_path):
    path = tmp_path / "data.fits"
    with pytest.raises(FileExistsError, match="created while writing"):
        with atomic_write(path, overwrite=False) as temporary:
            temporary.write_text("ours")
            path.write_text("theirs")
    assert path.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["data.fits"]
