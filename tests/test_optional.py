"""Optional dependencies: a missing one is named, with the extra that installs it."""

import sys
from pathlib import Path

import pytest

from sklens._optional import EXTRAS, check_extras, import_optional, install_command

ROOT = Path(__file__).resolve().parents[1]


def test_a_missing_module_is_named_with_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an install without matplotlib sees
    with pytest.raises(ImportError, match=r'sklens.plotting needs matplotlib .*pip install "sklens\[plot\]"'):
        import_optional("matplotlib", "plot", "sklens.plotting")


def test_an_installed_module_is_returned():
    assert import_optional("numpy", "sim", "nobody").__name__ == "numpy"


def test_check_extras_lists_every_missing_module(monkeypatch):
    check_extras("sim", "plot", user="sklens reproduce")  # the test environment has every extra
    monkeypatch.setitem(sys.modules, "pandas", None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError) as error:
        check_extras("sim", "plot", user="sklens reproduce")
    assert str(error.value) == 'sklens reproduce needs pandas, matplotlib: pip install "sklens[sim,plot]"'


def test_every_extra_exists_in_pyproject():
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS) <= set(extras)
    assert install_command("sim") == 'pip install "sklens[sim]"'
