"""The study scripts build on the public API of the experiments, never on their private helpers."""

import ast
from pathlib import Path

import pytest

STUDIES = sorted((Path(__file__).resolve().parents[1] / "studies").glob("study_*.py"))


def private_experiment_imports(source: str) -> list[str]:
    """``module.name`` of every private module or name of ``sklens.experiments`` that ``source`` imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklens.experiments"):
            private_module = any(part.startswith("_") for part in node.module.split("."))
            found += [
                f"{node.module}.{a.name}" for a in node.names if private_module or a.name.startswith("_")
            ]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("sklens.experiments._")]
    return found


def test_the_check_finds_private_imports():
    source = (
        "from sklens.experiments.reproduce import _fit, reproduce\nfrom sklens.experiments._runs import x\n"
    )
    assert private_experiment_imports(source) == [
        "sklens.experiments.reproduce._fit",
        "sklens.experiments._runs.x",
    ]


@pytest.mark.parametrize("path", STUDIES, ids=lambda path: path.name)
def test_a_study_imports_only_public_names_of_the_experiments(path):
    assert private_experiment_imports(path.read_text()) == []
