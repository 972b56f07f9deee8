"""What the project promises about itself: public names, cassettes, documentation."""

from __future__ import annotations

import ast
import importlib
import re
import types
from pathlib import Path

import yaml

import summarizer
from summarizer.errors import SummarizerError
from summarizer.settings import Settings
from tests.conftest import CASSETTES, ROOT

PACKAGE = ROOT / "summarizer"
KEY_LIKE = re.compile(r"sk-[A-Za-z0-9_-]{16,}|Bearer\s+\S{8,}|api[-_]?key\W+\w{12,}", re.I)


def test_public_names_are_sorted_and_importable() -> None:
    assert summarizer.__all__ == sorted(summarizer.__all__, key=str)
    for name in summarizer.__all__:
        assert getattr(summarizer, name) is not None


def test_every_cassette_is_free_of_credentials_and_local_paths() -> None:
    cassettes = sorted(CASSETTES.glob("*.yaml"))
    assert cassettes, "no cassettes"
    for path in cassettes:
        raw = path.read_text("utf-8")
        assert not KEY_LIKE.search(raw), f"{path.name} holds something that looks like a key"
        assert not re.search(r"/(tmp|root|home)/\S*\.gguf", raw), f"{path.name}: a local path"
        for interaction in yaml.safe_load(raw)["interactions"]:
            assert set(interaction["request"]["headers"]) <= {"content-type"}
            assert set(interaction["response"]["headers"]) <= {"content-type"}


def test_every_cassette_is_described_in_the_cassettes_readme() -> None:
    readme = (CASSETTES / "README.md").read_text("utf-8")
    for path in CASSETTES.glob("*.yaml"):
        assert path.name in readme, f"cassettes/README.md does not describe {path.name}"


def test_readme_documents_every_setting_and_exit_code() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    for name in Settings.model_fields:
        assert f"`{name}`" in readme, f"README.md does not document the setting {name}"
    codes = {cls.exit_code for cls in _subclasses(SummarizerError)}
    for code in codes:
        assert re.search(rf"^\| {code} \|", readme, re.M), f"README.md: exit code {code}"


def _subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found


# --- the public API ------------------------------------------------------------------------

# What the package module itself binds besides the API: its lazy-import machinery.
_INIT_HELPERS = {"annotations", "TYPE_CHECKING", "Any"}


def test_exported_members() -> None:
    """As httpx's test: ``__all__`` is exactly the public names the package serves.

    The lazy ``__getattr__`` serves a name from the module ``_HOMES`` names; the
    TYPE_CHECKING imports say the same for type checkers: all three must agree.
    """
    tree = ast.parse((PACKAGE / "__init__.py").read_text("utf-8"))
    typed = {
        alias.asname or alias.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("summarizer.")
        for alias in node.names
    }
    assert set(typed) == set(summarizer.__all__), "TYPE_CHECKING imports differ from __all__"
    homes = summarizer._HOMES  # type: ignore[attr-defined]
    assert set(homes) <= set(summarizer.__all__), "served lazily but not in __all__"
    for name in summarizer.__all__:
        home = f"summarizer.{homes.get(name, 'schema')}"
        assert typed[name] == home, f"{name}: typed as from {typed[name]}, served from {home}"
        value = getattr(summarizer, name)
        assert value is getattr(importlib.import_module(home), name)
        assert name in importlib.import_module(home).__all__, f"{home}.__all__ lacks {name}"
    public = {
        name
        for name, value in vars(summarizer).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - _INIT_HELPERS == set(summarizer.__all__)


def test_the_names_the_readme_imports_are_exported() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    for imported in re.findall(r"^from summarizer import (.+)$", readme, re.M):
        for name in re.split(r"[,\s()]+", imported.strip()):
            if name:
                assert name in summarizer.__all__, f"README imports {name} from summarizer"
    for name in ("load_settings", "discover", "BatchTally", "SettingsOptions"):
        assert name in summarizer.__all__


def test_settings_options_lists_every_setting() -> None:
    """``**options: Unpack[SettingsOptions]`` keeps each setting's type for the caller."""
    from summarizer.settings import SettingsOptions

    assert SettingsOptions.__total__ is False
    assert set(SettingsOptions.__annotations__) == set(Settings.model_fields)


# --- the import graph ----------------------------------------------------------------------


def _imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, name or None, line) of every summarizer import in ``path``: at the top,
    inside functions and under TYPE_CHECKING alike."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    package = "summarizer"
    found: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(f"{package}."):
                    found.append((alias.name, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from .x import y
                module = ".".join([package, *filter(None, [module])])
            if module != package and not module.startswith(f"{package}."):
                continue
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                if module == package and (PACKAGE / f"{alias.name}.py").exists():
                    found.append((submodule, None, node.lineno))  # from summarizer import llm
                else:
                    found.append((module, alias.name, node.lineno))
    return found


def _module_name(path: Path) -> str:
    return "summarizer" if path.name == "__init__.py" else f"summarizer.{path.stem}"


def _import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "__main__.py":
            continue
        graph[_module_name(path)] = {m for m, _, _ in _imports(path)} - {_module_name(path)}
    return graph


def test_no_module_imports_another_modules_private_name() -> None:
    private = [
        f"{path.name}:{line}: {name} from {module}"
        for path in sorted(PACKAGE.glob("*.py"))
        for module, name, line in _imports(path)
        if name is not None and name.startswith("_") and not name.startswith("__")
        if module != _module_name(path)
    ]
    assert private == []


def test_the_import_graph_has_no_cycle() -> None:
    """Every import counts, lazy ones and TYPE_CHECKING ones too; the package's own
    ``__init__`` is the public facade (it imports every module only for type checkers),
    so it is left out, and no module may import from the bare package."""
    graph = _import_graph()
    facade = graph.pop("summarizer")
    assert facade <= set(graph), facade - set(graph)
    into_package = sorted(name for name, targets in graph.items() if "summarizer" in targets)
    assert into_package == [], "these import from the package, which imports them"
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_readme_shows_every_command() -> None:
    from summarizer.cli import app

    readme = (ROOT / "README.md").read_text("utf-8")
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    names += [g.name or "" for g in app.registered_groups]
    assert {"summarize", "view", "report", "batch"} <= set(names)
    for name in names:
        assert f"summarizer {name}" in readme, f"README.md never shows `summarizer {name}`"


def test_the_demo_script_is_valid_bash() -> None:
    import subprocess

    script = ROOT / "scripts" / "demo.sh"
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "scripts/demo.sh" in (ROOT / "Makefile").read_text("utf-8")
