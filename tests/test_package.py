"""Package-level checks: metadata, the README's set-up commands and CI agree."""

from pathlib import Path

import pytest

import sklens

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_a_pep_440_version_and_the_changelogs_newest():
    from packaging.version import Version

    assert str(Version(sklens.__version__)) == sklens.__version__  # valid and in PEP 440's normal form
    changelog = (ROOT / "docs" / "changelog.md").read_text().splitlines()
    newest = next(line for line in changelog if line.startswith("## "))
    assert newest.split()[1] == sklens.__version__, newest


def test_the_installed_metadata_reports_the_version_of_the_code():
    """Every copy of sklens's metadata that belongs to this checkout (the editable install's, and the
    egg-info that building it leaves in the checkout, which a run from the checkout's root finds first)
    reports the code's version."""
    import json
    from importlib.metadata import distributions

    def is_this_checkout(dist) -> bool:
        origin = json.loads(dist.read_text("direct_url.json") or "{}").get("url")
        return origin == ROOT.as_uri() or Path(dist.locate_file("")).resolve() == ROOT

    ours = [dist for dist in distributions(name="sklens") if is_this_checkout(dist)]
    if not ours:  # e.g. a virtual environment shared with another checkout
        pytest.skip("the sklens installed here is not this checkout's")
    assert {dist.version for dist in ours} == {sklens.__version__}


def test_ci_runs_the_readme_test_command():
    readme_lines = (ROOT / "README.md").read_text().splitlines()
    test_command = next(line for line in readme_lines if "pytest" in line and "pip install" in line)
    ci_script = (ROOT / ".ci" / "run").read_text()
    # CI makes its own venv first; the rest of the README command must appear verbatim.
    after_venv = test_command.split("&& . .venv/bin/activate && ", 1)[1]
    assert after_venv in ci_script


def test_importing_sklens_and_its_io_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, sklens, sklens.io, sklens.preprocessing; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_numpy_validation_modules_do_not_import_torch():
    import subprocess
    import sys

    code = "import sys, sklens.domains, sklens.model_selection; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_public_estimator_is_exported_and_every_export_resolves():
    import importlib

    for module_name in ("sklens.regression", "sklens.classification"):
        module = importlib.import_module(module_name)
        estimators = [name for name in module.__all__ if isinstance(getattr(module, name), type)]
        assert len(estimators) >= 2, module.__all__  # not METHODS: a dict of the regressors
        for name in estimators:
            assert name in sklens.__all__, f"{module_name}.{name} is not exported by sklens"
            assert getattr(sklens, name) is getattr(module, name)
    for name in set(sklens.__all__) - {"__version__"}:  # each a class of sklens's own
        exported = getattr(sklens, name)
        assert isinstance(exported, type) and exported.__module__.startswith("sklens."), (name, exported)
    with pytest.raises(AttributeError, match="no attribute 'NotAnEstimator'"):
        sklens.NotAnEstimator  # noqa: B018


def test_version_has_one_source():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "sklens.__version__"}


def test_each_dependency_is_listed_once():
    import re

    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = pyproject["dependencies"] + [
        r for extra in pyproject["optional-dependencies"].values() for r in extra if "sklens[" not in r
    ]
    names = [re.match(r"[A-Za-z0-9_.-]+", r).group().lower() for r in requirements]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
