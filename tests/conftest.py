"""Fixtures shared by the test modules."""

import importlib.util
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture
def load_script(monkeypatch):
    """Import a script of the repository (``benchmarks/x.py``, ``examples/y.py``) as a module.

    The module is registered in ``sys.modules`` for the test (dataclasses look their module up there)
    and removed after it.
    """

    def load(relative_path: str):
        path = REPOSITORY / relative_path
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
        return module

    return load
