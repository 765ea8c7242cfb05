"""The package as a user installs it: its version, the README's links, the sdist's test suite."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import pytest_expharness

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def declared_version() -> str:
    """The version pyproject.toml declares (read as text: tomllib is 3.11+)."""
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(r'^version = "([^"]+)"$', text, re.MULTILINE)
    assert found, "pyproject.toml declares no version"
    return found.group(1)


def test_version_is_the_installed_one() -> None:
    installed = importlib.metadata.version("pytest-expharness")
    assert pytest_expharness.__version__ == installed == declared_version()


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    lines = markdown.read_text().splitlines()
    return {slug(line.lstrip("#")) for line in lines if re.match(r"#{1,6} ", line)}


def test_readme_links_only_files_in_the_clone() -> None:
    links = LINK.findall((ROOT / "README.md").read_text())
    assert links, "the README links its guide"
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue  # a web address
        target, _, anchor = link.partition("#")
        path = (ROOT / target).resolve() if target else ROOT / "README.md"
        assert path.is_relative_to(ROOT), f"README links {link}, outside the repository"
        assert path.exists(), f"README links {link}, which is not in the repository"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"README links {link}: {target} has no such heading"


def test_readme_says_how_to_install_and_what_is_supported() -> None:
    text = (ROOT / "README.md").read_text()
    assert "pip install pytest-expharness" in text
    assert "Python 3.10" in text and "pytest 8" in text


def test_license_and_changelog_ship_with_the_package() -> None:
    metadata = importlib.metadata.metadata("pytest-expharness")
    assert metadata["License-Expression"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and f"## [{declared_version()}]" in changelog


SHIPPED = [
    "conftest.py",
    "tests/conftest.py",
    "tests/plan/test_params.py",
    "docs/architecture.md",
    "experiments/test_quickstart.py",
    "docs/guide.md",
    "benchmarks/_harness.py",
    "CHANGELOG.md",
    "LICENSE",
    "README.md",
    "tox.ini",
    "pytest_expharness/py.typed",
]


def copy_tree(source: Path, target: Path) -> None:
    """The project's files without the venv, caches and archives a checkout may hold."""
    junk = {".venv", ".git", "results", "out", "__pycache__", ".hypothesis", ".mypy_cache"}
    junk |= {".ruff_cache", ".pytest_cache", "build", "dist", ".tox"}
    shutil.copytree(
        source, target, ignore=lambda _, names: [n for n in names if n in junk or "egg-info" in n]
    )


@pytest.mark.slow
def test_sdist_carries_the_test_suite(tmp_path: Path) -> None:
    """Build the sdist as a release would and look inside: the suite must run from it."""
    tools = tmp_path / "tools"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", tools, "setuptools>=77"],
        check=True,
        capture_output=True,
    )
    tree = tmp_path / "tree"
    copy_tree(ROOT, tree)
    env = {**os.environ, "PYTHONPATH": str(tools)}
    build = "from setuptools import build_meta; print(build_meta.build_sdist('../dist'))"
    done = subprocess.run(
        [sys.executable, "-c", build], cwd=tree, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    name = done.stdout.strip().splitlines()[-1]
    with tarfile.open(tmp_path / "dist" / name) as sdist:
        top = name.removesuffix(".tar.gz")
        members = {m.name.removeprefix(top + "/") for m in sdist.getmembers()}
        info = sdist.extractfile(f"{top}/PKG-INFO")
        assert info is not None
        pkg_info = info.read().decode()
    missing = [path for path in SHIPPED if path not in members]
    assert not missing, f"the sdist lacks {missing}"
    tests = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("test_*.py")}
    assert tests <= members
    assert not [m for m in members if "__pycache__" in m or m.startswith(("results/", ".venv"))]
    assert "License-Expression: MIT" in pkg_info and "License ::" not in pkg_info
    assert "Requires-Python: >=3.10" in pkg_info
