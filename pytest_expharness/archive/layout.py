"""The on-disk layout of the archive: run folders, atomic writes, run ids (see names.py).

Layout: <root>/<experiment>/<session stamp>/<run id>/ (testing runs under
<root>/_testing/, debug runs in <root>/<experiment>/debug/). A run folder is
the only place holding both config.yaml and summary.json. An archive root
carries the marker file `.expharness` (or, written before markers, an
index.sqlite): that, never its name, is what makes a folder an archive.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .names import MAX_ID as MAX_ID
from .names import MAX_ID_BYTES as MAX_ID_BYTES
from .names import MAX_NAME_BYTES as MAX_NAME_BYTES
from .names import is_safe_name as is_safe_name
from .names import run_id_for as run_id_for
from .names import safe_name as safe_name

CONFIG = "config.yaml"
SUMMARY = "summary.json"
DATA = "data.json"
METRICS = "metrics.csv"
JOURNAL = "metrics.journal"
PLANNED = "planned.json"  # how many runs this session means to make of the experiment
LIVE = "live.json"  # a running run's step, total, latest values (live/ reads it); gone at the end
LOG = "run.log"
REPORT = "REPORT.md"
ARTIFACTS = "artifacts"
PLOTS = "plots"
TRACKED = "tracked"
TESTING_DIR = "_testing"
MARKER = ".expharness"
MARKER_TEXT = '{"format": 1}\n'
INDEX = "index.sqlite"  # index.FILE, named here so that finding an archive loads no sqlite3
RESULTS = "results"
ROOT_ENV = "EXPHARNESS_ROOT"
DEBUG_DIR = "debug"
LABELS = ("keep", "baseline", "exploratory", "failed", "superseded")


def session_stamp(now: float | None = None) -> str:
    """Return a readable, practically unique stamp for one pytest session."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(now))
    return f"{stamp}_{os.urandom(2).hex()}"


def make_run_dir(parent: Path, base_id: str) -> tuple[Path, str]:
    """Create a fresh run folder under parent with an exclusive mkdir; return it and its id."""
    parent.mkdir(parents=True, exist_ok=True)
    candidate, n = base_id, 1
    while True:
        path = parent / candidate
        try:
            path.mkdir()
            return path, candidate
        except FileExistsError:
            n += 1
            candidate = f"{base_id}_{n}"


GITIGNORE = """\
# Written by pytest-expharness when this archive was created inside a git repository.
# Meant to be committed: each run's config.yaml, summary.json, data.json, metrics.csv,
# run.log and REPORT.md, and each session's comparison tables and report.html.
# Left out: what is large or made again (artifacts, image frames, plots, the binary
# series/ copy of metrics.csv, what a run's analysis.py draws, checkpoints, the index,
# the cache),
# each run's copy of its code (git has it at the recorded commit; with
# --exp-reproducible, requirements.txt and uncommitted.patch are kept), testing runs,
# debug runs, SLURM job files, and folders being staged or deleted.
artifacts/
tracked/
plots/
analysis_plots/
metrics.journal
series/
.series-partial/
checkpoints/
index.sqlite*
*.tmp
.debug.lock
.debug-old-*/
*/debug/
/.cache/
/_testing/
/_slurm/
/.import-*/
.gc-*/
/*/*/*/code/**
!/*/*/*/code/requirements.txt
!/*/*/*/code/uncommitted.patch
"""
GITIGNORE_FIRST_LINE = GITIGNORE.splitlines()[0]
# Every text an earlier version wrote: a .gitignore still holding one exactly is ours to
# bring up to date; one that differs in any way is the user's and stays as it is.
# The sha256 of each .gitignore an earlier version wrote (brought up to date when found
# exactly so); the newest earlier text is in tests/session/test_git_policy.py.
_OLD_GITIGNORES = frozenset(
    {
        "4cd54dd126e20187792a1d3ca16769c817ff07a722a646c14e6d6b5041fb81c9",
        "0f02090059c075b6c30a1c9fa7e3847895d5646719167b8181aad3866bd2245a",
        "f23d97984750a442407799c9742c6f38072c4fd704d9564e30c115eca20b3b0d",
    }
)
_OLD_MAX_BYTES = 910
_CHECKED_GITIGNORE: set[str] = set()  # roots whose .gitignore this process looked at


def create_root(root: Path) -> None:
    """Create an archive root, or mark an existing one; a new one inside git gets its .gitignore.

    An existing root's .gitignore that is exactly one an earlier version wrote is
    brought up to date (once per process); a .gitignore anyone edited is left alone.
    """
    if (root / MARKER).is_file():
        _update_gitignore(root)
        return
    new = not root.is_dir()
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / MARKER, MARKER_TEXT)
    if new:
        _give_gitignore(root)
    else:
        _update_gitignore(root)


def _update_gitignore(root: Path) -> None:
    key = os.fspath(root)
    if key in _CHECKED_GITIGNORE:
        return
    _CHECKED_GITIGNORE.add(key)
    path = root / ".gitignore"
    try:
        with open(path, "rb") as handle:
            data = handle.read(_OLD_MAX_BYTES + 1)
    except OSError:
        return
    import hashlib

    if hashlib.sha256(data).hexdigest() in _OLD_GITIGNORES:
        try:
            atomic_write_text(path, GITIGNORE)
        except OSError:
            return  # a read-only archive keeps its old .gitignore


def _give_gitignore(root: Path) -> None:
    import subprocess

    try:
        inside = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return
    if inside == "true" and not (root / ".gitignore").exists():
        atomic_write_text(root / ".gitignore", GITIGNORE)


def is_archive_root(path: Path) -> bool:
    """Return whether path is an archive root: it holds the marker or an index.sqlite."""
    folder = os.fspath(path)  # os.path, not pathlib: asked of every path pytest collects
    return os.path.isfile(os.path.join(folder, MARKER)) or os.path.isfile(
        os.path.join(folder, INDEX)
    )


def archive_root(config: Any) -> Path:
    """Return the absolute archive root the options name (default: results/ at the project root).

    The project root is the rootdir when pytest found a config file, else the
    top of the git checkout holding the rootdir, else the rootdir: pytest run
    from a subfolder of a project without a config file archives where it
    would from the top, not in a second results/ beside the tests.
    """
    root_opt = config.getoption("exp_root") or config.getini("exp_root")
    rootdir = Path(config.rootpath)
    if not root_opt:
        return project_root(rootdir, config.inipath) / RESULTS
    root = Path(root_opt)
    if not root.is_absolute():
        base = Path(config.invocation_params.dir) if config.getoption("exp_root") else rootdir
        root = base / root
    return root


def project_root(rootdir: Path, inipath: Path | None) -> Path:
    """Return the project root of a pytest session: see archive_root.

    A config path that is not a file (`-c /dev/null`, as SLURM tasks get when
    their session had none) is no config file. The git top is found by looking
    for `.git` (a folder, or a file in a worktree), never by running git: this
    runs in every session, with experiments or without.
    """
    if inipath is not None and Path(inipath).is_file():
        return rootdir
    return git_top(rootdir) or rootdir


def git_top(folder: Path) -> Path | None:
    """Return the nearest folder at or above folder holding a `.git` entry, or None."""
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate / ".git"):
            return candidate
    return None


def find_root(start: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Return the archive the `expharness` command reads from start (the current folder).

    EXPHARNESS_ROOT in environ (default: os.environ), when set, names it
    (relative to start). Otherwise, walking up from start like git: the first
    folder that is an archive root itself (start lies inside the archive), or
    that holds a results/ which is one. The walk ends at the project top;
    without an archive up to there the answer is <top>/results, where a
    session started there would put it.

    The project top is the plugin's project root (see archive_root), found
    from start as pytest finds its rootdir: the nearest folder holding a
    pytest config file (pytest.toml, pytest.ini, pyproject.toml with a
    [tool.pytest] table, tox.ini with [pytest], setup.cfg with [tool:pytest];
    looked for up to the file-system root, as pytest does), else the nearest
    pyproject.toml (pytest's fallback), else the top of the git checkout (a
    `.git` entry). Without any, the walk goes on up and the answer is
    start/results.
    """
    start = Path(os.path.abspath(start))
    given = (os.environ if environ is None else environ).get(ROOT_ENV)
    if given:
        return Path(os.path.abspath(start / given))
    top = project_top(start)
    for folder in (start, *start.parents):
        if is_archive_root(folder):
            return folder
        if is_archive_root(folder / RESULTS):
            return folder / RESULTS
        if folder == top:
            break
    return (top or start) / RESULTS


def project_top(start: Path) -> Path | None:
    """Return the project top above start, found as find_root says; None when there is none."""
    pyproject: Path | None = None
    for folder in (start, *start.parents):
        if _has_pytest_config(folder):
            return folder
        if pyproject is None and (folder / "pyproject.toml").is_file():
            pyproject = folder
    return pyproject or git_top(start)


_PYTEST_SECTIONS = {
    "pyproject.toml": re.compile(r"^\s*\[\s*tool\s*\.\s*pytest\s*(\]|\.)", re.MULTILINE),
    "tox.ini": re.compile(r"^\s*\[\s*pytest\s*\]", re.MULTILINE),
    "setup.cfg": re.compile(r"^\s*\[\s*tool:pytest\s*\]", re.MULTILINE),
}


def _has_pytest_config(folder: Path) -> bool:
    """Whether folder holds a file pytest takes for its config file (as its findpaths does)."""
    for name in ("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini"):
        if (folder / name).is_file():
            return True
    for name, section in _PYTEST_SECTIONS.items():
        path = folder / name
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if section.search(text):
                return True
    return False


def experiment_parent(
    root: Path, experiment: str, stamp: str, *, testing: bool, debug: bool
) -> Path:
    """Return the folder that holds this session's runs of one experiment."""
    base = root / TESTING_DIR if testing else root
    if debug:
        return base / safe_name(experiment) / DEBUG_DIR
    return base / safe_name(experiment) / stamp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write data to path through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(3).hex()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write text (UTF-8) to path atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    """Write obj as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def is_run_folder(path: Path) -> bool:
    """Return whether path holds both config.yaml and summary.json."""
    return (path / CONFIG).is_file() and (path / SUMMARY).is_file()


def iter_run_folders(root: Path) -> list[Path]:
    """Return every run folder of an archive root, sorted by path.

    Run folders sit at <root>/<experiment>/<session>/<run id>/. Testing runs
    (<root>/_testing) form an archive of their own, and debug runs are replaced
    each session, so neither is listed; nor is anything in a hidden folder (an
    import being staged, a run being deleted). A folder that vanishes while it
    is listed (gc, a debug session) is passed over.
    """
    found: list[Path] = []
    for experiment in _subfolders(root):
        if experiment.name == TESTING_DIR and root.name != TESTING_DIR:
            continue
        for session in _subfolders(experiment):
            if session.name == DEBUG_DIR:
                continue
            found.extend(run for run in _subfolders(session) if is_run_folder(run))
    return sorted(found)


def _subfolders(folder: Path) -> list[Path]:
    """The visible subfolders of folder; none when it is gone or unreadable."""
    try:
        with os.scandir(folder) as entries:
            return [
                Path(entry.path)
                for entry in entries
                if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False)
            ]
    except OSError:
        return []


def artifact_names(folder: Path) -> list[str]:
    """Return the artifact names of a run, sorted."""
    base = folder / ARTIFACTS
    if not base.is_dir():
        return []
    return sorted(
        p.relative_to(base).as_posix()
        for p in base.rglob("*")
        if p.is_file() and not p.name.endswith(".tmp")
    )
