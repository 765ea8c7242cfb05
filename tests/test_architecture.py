"""The layout docs/architecture.md describes holds: layers, package sizes, the tests' mirror."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_expharness

PACKAGE = Path(pytest_expharness.__file__).parent
TESTS = Path(__file__).parent
MAX_LINES = 400
MAX_MODULES = 11
# what `import pytest_expharness.plugin` may load of ours: a session without experiments
PLUGIN_LOAD = {
    "pytest_expharness",
    "pytest_expharness.options",
    "pytest_expharness.plugin",
    "pytest_expharness.session",
    "pytest_expharness.session.citizen",
    "pytest_expharness.session.gitpolicy",
    "pytest_expharness.xdisthooks",
}


def _packages() -> list[Path]:
    return sorted(p.parent for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE)


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    done = subprocess.run(
        [lint, "--config", str(TESTS.parent / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=TESTS.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_every_package_says_what_it_owns_and_imports_nothing() -> None:
    for folder in _packages():
        tree = ast.parse((folder / "__init__.py").read_text("utf-8"))
        doc = ast.get_docstring(tree)
        assert doc and len(doc.splitlines()) <= 6, f"{folder.name}/__init__.py: no short docstring"
        assert len(tree.body) == 1, f"{folder.name}/__init__.py holds more than its docstring"


@pytest.mark.parametrize("folder", _packages(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_packages_and_modules_stay_small(folder: Path) -> None:
    modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
    assert len(modules) <= MAX_MODULES, f"{folder.name} has {len(modules)} modules"
    for module in modules:
        lines = len(module.read_text("utf-8").splitlines())
        assert lines <= MAX_LINES, f"{module.relative_to(PACKAGE)} has {lines} lines"


def test_top_level_modules_stay_small() -> None:
    for module in PACKAGE.glob("*.py"):
        lines = len(module.read_text("utf-8").splitlines())
        assert lines <= MAX_LINES, f"{module.name} has {lines} lines"


def test_tests_mirror_the_packages() -> None:
    top = {p.relative_to(PACKAGE).parts[0] for p in _packages()}
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and list(p.glob("test_*.py"))}
    assert folders == top, f"tests/ folders {sorted(folders)} vs packages {sorted(top)}"


def test_plugin_import_loads_only_the_option_layer() -> None:
    code = (
        "import sys, pytest_expharness.plugin\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('pytest_expharness'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(done.stdout.split()) == PLUGIN_LOAD


def test_public_api_and_entry_points_are_where_users_find_them() -> None:
    from importlib.metadata import entry_points

    import pytest_expharness as public

    for name in public.__all__:
        assert getattr(public, name) is not None, name
    assert public.Exp.__module__ == "pytest_expharness.run.exp"
    plugins = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugins["expharness"] == "pytest_expharness.plugin"
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts["expharness"] == "pytest_expharness.cli.main:main"


def test_warnings_filter_by_their_public_names(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a():\n    pass\n")
    names = ("DirtyTreeWarning", "ExperimentWarning", "IndexWarning", "AnalysisWarning")
    args = [f"-Wignore::pytest_expharness.{name}" for name in names]
    pytester.runpytest_subprocess("-p", "no:xdist", *args).assert_outcomes(passed=1)
