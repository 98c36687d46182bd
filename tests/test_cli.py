"""The ``sklens`` command on a core install (no extras): help works, commands say what to install.

A core install is simulated in a fresh interpreter where importing an extra's module fails as it does
when the package is absent (``sys.modules[name] = None``). One interpreter runs every command below in
turn (each with its own output and exit status), as starting one per command costs seconds each.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sklens._optional import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
# pyyaml stays: astropy, a core dependency, requires it.
MISSING = [name for modules in EXTRAS.values() for name in modules if name != "yaml"]
HELP = {"main": ["--help"], "simulate": ["simulate", "--help"], "reproduce": ["reproduce", "--help"]}


def run_core_cli(commands: dict[str, list[str]]) -> dict[str, dict]:
    """Each command's exit status, stdout and stderr, run by ``sklens.cli.main`` in one core interpreter."""
    code = (
        "import contextlib, io, json, sys\n"
        f"for name in {MISSING!r}:\n"
        "    sys.modules[name] = None\n"
        "from sklens.cli import main\n"
        "results = {}\n"
        f"for key, argv in {commands!r}.items():\n"
        "    out, err = io.StringIO(), io.StringIO()\n"
        "    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
        "        try:\n"
        "            code = main(argv)\n"
        "        except SystemExit as exc:\n"
        "            code = exc.code\n"
        "    results[key] = {'returncode': code or 0, 'stdout': out.getvalue(), 'stderr': err.getvalue()}\n"
        "print(json.dumps(results))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=True
    )
    return json.loads(completed.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    """The commands' results, and the folders they were told to write to."""
    tmp = tmp_path_factory.mktemp("core-cli")
    outs = {"simulate": tmp / "simulated", "reproduce": tmp / "reproduced"}
    commands = {
        **HELP,
        "simulate-run": ["simulate", "paper-source", "-n", "2", "-o", str(outs["simulate"])],
        "reproduce-run": ["reproduce", "--out", str(outs["reproduce"]), "--device", "cpu"],
    }
    return run_core_cli(commands), outs


@pytest.mark.parametrize("command", list(HELP))
def test_help_works_without_extras(core, command):
    result = core[0][command]
    assert result["returncode"] == 0, result["stderr"]
    assert "usage: sklens" in result["stdout"]


def test_simulate_help_lists_the_presets_without_extras(core):
    assert "paper-source" in core[0]["simulate"]["stdout"]


def test_simulate_without_the_sim_extra_says_how_to_install(core):
    result, out = core[0]["simulate-run"], core[1]["simulate"]
    assert result["returncode"] == 2, result["stderr"]
    assert 'pip install "sklens[sim]"' in result["stderr"]
    assert "Traceback" not in result["stderr"]
    assert not out.exists()  # refused before writing anything


def test_reproduce_without_extras_names_both_it_needs(core):
    result, out = core[0]["reproduce-run"], core[1]["reproduce"]
    assert result["returncode"] == 2, result["stderr"]
    assert 'pip install "sklens[sim,plot]"' in result["stderr"]
    assert result["stdout"] == ""  # no duration estimate for a run that cannot start
    assert not out.exists()
