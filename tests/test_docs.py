"""The API reference as a user reads it: build the site once and check the rendered HTML.

A strict ``mkdocs build`` catches broken references, but not what mkdocstrings renders from a docstring
that parses yet reads wrong in a browser: a Sphinx role shown raw (mkdocstrings knows no roles), a
private base class in "Bases:", numpydoc's combined entry ``a, b, c`` turned into rows that share one
text and the first name's default, or any other default that is not the signature's.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from conftest import REGRESSORS

ROOT = Path(__file__).resolve().parents[1]
API_PAGES = ["estimators", "classification", "nn", "data", "model_selection", "evaluation"]
ESTIMATORS = [
    *(f"sklens.regression.{cls.__name__}" for cls in REGRESSORS),
    "sklens.classification.LensClassifier",
    "sklens.classification.RotInvariantLensClassifier",
]
# What users call on an estimator; documented on its own entry although defined on a (private) base.
ESTIMATOR_METHODS = {
    "sklens.regression.CNNRegressor": ["fit", "partial_fit", "predict", "score", "transform_features"],
    "sklens.classification.LensClassifier": ["fit", "predict", "predict_proba"],
}
SPHINX_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|obj|exc|data|ref):(?:`|<code>)")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [n for n in self.iter() if n.tag == tag and (cls is None or cls in n.classes)]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("document", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse_html(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    return builder.root


def resolve(path: str):
    """Import ``a.b.C.meth`` from the longest importable module prefix; None if it cannot be."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


def parameter_tables(page: Node) -> list[tuple[str, list[dict[str, Node]]]]:
    """(object path, rows) for every Parameters table, a row mapping column name to cell."""
    tables = []
    heading = None
    for node in page.iter():
        if "doc-heading" in node.classes and node.attrs.get("id"):
            heading = node.attrs["id"]
        is_title = node.tag == "span" and "doc-section-title" in node.classes
        if is_title and node.text().strip() == "Parameters:":
            table = next(n for n in _following(node) if n.tag == "table")
            header = [th.text().strip() for th in table.find_all("th")]
            rows = []
            for tr in table.find_all("tr", "doc-section-item"):
                cells = [td for td in tr.children if isinstance(td, Node) and td.tag == "td"]
                rows.append(dict(zip(header, cells, strict=True)))
            tables.append((heading, rows))
    return tables


def _following(node: Node):
    """Nodes after ``node`` in document order."""
    while node.parent is not None:
        siblings = node.parent.children
        for sibling in siblings[siblings.index(node) + 1 :]:
            if isinstance(sibling, Node):
                yield sibling
                yield from sibling.iter()
        node = node.parent


def default_matches(shown: str, default, module) -> bool:
    """Whether ``shown``, the source expression griffe rendered, means the signature's ``default``."""
    if shown == repr(default):
        return True
    if re.fullmatch(r"[A-Za-z_][\w.]*", shown) and module is not None:  # a named constant
        with contextlib.suppress(AttributeError):
            value = module
            for part in shown.split("."):
                value = getattr(value, part)
            if value is default or value == default:
                return True
    if inspect.isclass(default) or inspect.isroutine(default):
        names = {default.__name__, default.__qualname__, f"{default.__module__}.{default.__qualname__}"}
        return shown in names
    try:
        return bool(ast.literal_eval(shown) == default)
    except (ValueError, SyntaxError, TypeError):
        return False


def find_defects(site: Path, pages=API_PAGES) -> tuple[list[str], set[str]]:
    """Every defect found on the API pages of a built site, and the objects whose defaults were checked."""
    defects, checked = [], set()
    for page_name in pages:
        html = (site / "api" / page_name / "index.html").read_text()
        page = parse_html(html)
        for match in SPHINX_ROLE.finditer(html):
            context = re.sub(r"<[^>]+>", "", html[match.start() : match.start() + 120]).split("\n")[0]
            defects.append(f"{page_name}: raw Sphinx role {context!r}")
        for bases in page.find_all("p", "doc-class-bases"):
            for span in bases.iter():
                title = span.attrs.get("title", "")
                if title and any(part.startswith("_") for part in title.split(".")):
                    defects.append(f"{page_name}: private base {title!r} shown in {bases.text().strip()!r}")
        for obj_path, rows in parameter_tables(page):
            names = [row["Name"].text().strip() for row in rows]
            descriptions = [row["Description"].text().strip() for row in rows]
            for i in range(1, len(rows)):
                if descriptions[i] and descriptions[i] == descriptions[i - 1]:
                    defects.append(
                        f"{page_name}: {obj_path} parameters {names[i - 1]!r} and {names[i]!r} share one "
                        f"description (a combined numpydoc entry?)"
                    )
            obj = resolve(obj_path) if obj_path else None
            try:
                parameters = inspect.signature(obj).parameters
            except (TypeError, ValueError):
                continue
            checked.add(obj_path)
            # griffe renders what a variadic parameter is when nothing is passed: () or {}.
            variadic_default = {inspect.Parameter.VAR_POSITIONAL: "()", inspect.Parameter.VAR_KEYWORD: "{}"}
            var_keyword = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
            for name, row in zip(names, rows, strict=True):
                shown = row["Default"].text().strip() if "Default" in row else ""
                where = f"{page_name}: {obj_path}"
                param = parameters.get(name.lstrip("*"))
                if param is None:
                    if not var_keyword:
                        defects.append(f"{page_name}: {obj_path} documents {name!r}, not in its signature")
                    elif shown:
                        defects.append(f"{where}: {name} is passed on through **kwargs; shown {shown!r}")
                elif param.default is param.empty:
                    if shown not in {"", "required", variadic_default.get(param.kind)}:
                        defects.append(f"{where}({name}) shows default {shown!r}; it has none")
                elif not default_matches(shown, param.default, inspect.getmodule(obj)):
                    defects.append(
                        f"{page_name}: {obj_path}({name}) shows default {shown!r}, "
                        f"the signature's is {param.default!r}"
                    )
    return defects, checked


def build_strictly(project: Path, site_dir: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """``mkdocs build --strict`` of the site configured in ``project``: the run, and its warnings and
    errors. The API pages document this checkout's sklens, wherever ``project`` is."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # Not --quiet: it also hides the warnings from --strict, and the build passes whatever they say.
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)]
    result = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=240)
    return result, [line for line in result.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The documentation site, built once, strictly (a warning fails it), from this checkout."""
    site_dir = tmp_path_factory.mktemp("site")
    result, warnings = build_strictly(ROOT, site_dir)
    assert result.returncode == 0 and not warnings, f"mkdocs build --strict failed:\n{result.stderr}"
    return site_dir


@pytest.mark.parametrize("anchor, fails", [("#the-median-bandwidth", False), ("#the-median", True)])
def test_a_link_to_a_missing_heading_fails_the_strict_build(tmp_path, anchor, fails):
    """mkdocs reports a link to a heading that does not exist at INFO level unless mkdocs.yml asks for
    a warning, which --strict turns into a failed build. A two-page site built with this checkout's
    ``strict`` and ``validation`` settings must fail on a link to a missing heading, on that link
    alone, and pass with the heading that exists (the site fixture builds the real pages so)."""
    settings = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    site = {"site_name": "links", "markdown_extensions": ["toc"]}
    site.update({key: settings[key] for key in ("strict", "validation")})
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(site))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text(f"# Home\n\nSee [the bandwidth](study.md{anchor}).\n")
    (tmp_path / "docs" / "study.md").write_text("# Study\n\n## The median bandwidth\n\nText.\n")
    result, warnings = build_strictly(tmp_path, tmp_path / "site")
    assert (result.returncode != 0) == fails, result.stderr
    assert len(warnings) == fails, result.stderr
    if fails:
        assert "'study.md#the-median'" in warnings[0], result.stderr


def test_api_pages_render_without_defects(site):
    defects, checked = find_defects(site)
    assert not defects, "\n".join(defects)
    # The check compared defaults, so it cannot pass by parsing nothing.
    assert set(ESTIMATORS) <= checked, f"parameters of {sorted(set(ESTIMATORS) - checked)} were not checked"


@pytest.mark.parametrize("estimator", sorted(ESTIMATOR_METHODS))
def test_estimator_pages_document_the_inherited_methods_users_call(site, estimator):
    html = "".join((site / "api" / page / "index.html").read_text() for page in API_PAGES)
    missing = [m for m in ESTIMATOR_METHODS[estimator] if f'id="{estimator}.{m}"' not in html]
    assert not missing, f"{estimator}: no entry for {missing}"


def test_the_check_finds_each_kind_of_defect(tmp_path):
    """The checker itself, on a page with one defect of each kind the issue describes."""
    page = tmp_path / "api" / "estimators" / "index.html"
    page.parent.mkdir(parents=True)
    row = (
        '<tr class="doc-section-item"><td><code>{}</code></td><td></td>'
        '<td><div class="doc-md-description"><p>{}</p></div></td><td><code>{}</code></td></tr>'
    )
    rows = [
        row.format("optimizer", "As in skorch.", '<span title="torch.optim.Adam">Adam</span>'),
        row.format("criterion", "As in skorch.", '<span title="torch.optim.Adam">Adam</span>'),
        row.format("max_epochs", "Epochs.", "31"),
    ]
    page.write_text(
        '<h2 id="sklens.regression.CNNRegressor" class="doc doc-heading">CNNRegressor</h2>'
        '<p class="doc doc-class-bases">Bases: <code><span title="sklens.regression._Base">_Base</span>'
        "</code></p><p>See :class:<code>skorch.NeuralNetRegressor</code>.</p>"
        '<p><span class="doc-section-title">Parameters:</span></p><table><thead><tr><th>Name</th>'
        "<th>Type</th><th>Description</th><th>Default</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    defects, checked = find_defects(tmp_path, pages=["estimators"])
    assert checked == {"sklens.regression.CNNRegressor"}
    kinds = ["raw Sphinx role", "private base", "share one description", "criterion) shows default 'Adam'"]
    kinds.append("max_epochs) shows default '31'")
    for kind in kinds:
        assert any(kind in d for d in defects), (kind, defects)
    assert len(defects) == len(kinds), defects
