"""The ``sklens`` command on a core install (no extras): help works, commands say what to install.

A core install is simulated in a fresh interpreter where importing an extra's module fails as it does
when the package is absent (``sys.modules[name] = None``).
"""

import subprocess
import sys
from pathlib import Path

import pytest

from sklens._optional import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
# pyyaml stays: astropy, a core dependency, requires it.
MISSING = [name for modules in EXTRAS.values() for name in modules if name != "yaml"]


def run_core_cli(*argv: str) -> subprocess.CompletedProcess:
    code = (
        "import sys\n"
        f"for name in {MISSING!r}:\n"
        "    sys.modules[name] = None\n"
        "from sklens.cli import main\n"
        f"sys.exit(main({list(argv)!r}))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("argv", [["--help"], ["simulate", "--help"], ["reproduce", "--help"]])
def test_help_works_without_extras(argv):
    result = run_core_cli(*argv)
    assert result.returncode == 0, result.stderr
    assert "usage: sklens" in result.stdout


def test_simulate_help_lists_the_presets_without_extras():
    assert "paper-source" in run_core_cli("simulate", "--help").stdout


def test_simulate_without_the_sim_extra_says_how_to_install(tmp_path):
    out = tmp_path / "out"
    result = run_core_cli("simulate", "paper-source", "-n", "2", "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert 'pip install "sklens[sim]"' in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()  # refused before writing anything


def test_reproduce_without_extras_names_both_it_needs(tmp_path):
    result = run_core_cli("reproduce", "--out", str(tmp_path / "out"), "--device", "cpu")
    assert result.returncode == 2, result.stderr
    assert 'pip install "sklens[sim,plot]"' in result.stderr
    assert result.stdout == ""  # no duration estimate for a run that cannot start
    assert not (tmp_path / "out").exists()
