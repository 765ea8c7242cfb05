"""The on-disk layout of the archive: run folders, atomic writes, run ids.

Layout: <root>/<experiment>/<session stamp>/<run id>/ (testing runs under
<root>/_testing/, debug runs in <root>/<experiment>/debug/). A run folder is
the only place holding both config.yaml and summary.json.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

CONFIG = "config.yaml"
SUMMARY = "summary.json"
DATA = "data.json"
METRICS = "metrics.csv"
JOURNAL = "metrics.journal"
LOG = "run.log"
REPORT = "REPORT.md"
ARTIFACTS = "artifacts"
PLOTS = "plots"
TRACKED = "tracked"
TESTING_DIR = "_testing"
DEBUG_DIR = "debug"
MAX_ID = 80
LABELS = ("keep", "baseline", "exploratory", "failed")

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+,\-]+")


def session_stamp(now: float | None = None) -> str:
    """Return a readable, practically unique stamp for one pytest session."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(now))
    return f"{stamp}_{os.urandom(2).hex()}"


def safe_name(text: str) -> str:
    """Return text made safe as one path component (no separators, no dots-only)."""
    cleaned = _UNSAFE.sub("_", text).strip("._") or "_"
    return cleaned


def run_id_for(axes: dict[str, Any], fallback: str | None = None) -> str:
    """Return a readable run id made from the sweep axes, e.g. 'latent=vq,beta=10'.

    When a value is not a plain scalar (a list, an object), pytest's id of the
    test (`fallback`, which honours parametrize ids) is used instead.
    """
    if not axes:
        return "run"
    plain = all(isinstance(v, (str, int, float, bool)) or v is None for v in axes.values())
    if not plain and fallback:
        text = safe_name(fallback)
    else:
        text = safe_name(",".join(f"{name}={_short(value)}" for name, value in axes.items()))
    if len(text) > MAX_ID:
        import hashlib

        digest = hashlib.sha1(text.encode()).hexdigest()[:8]
        text = text[: MAX_ID - 9].rstrip("._,") + "-" + digest
    return text


def _short(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


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
# Configs, summaries, metrics and comparison tables are small and worth tracking;
# artifacts, image frames, plots and the index are large or rebuilt.
artifacts/
tracked/
plots/
metrics.journal
index.sqlite*
*.tmp
.debug.lock
.debug-old-*/
*/debug/
"""


def create_root(root: Path) -> None:
    """Create an archive root; inside a git work tree, give it its .gitignore."""
    if root.is_dir():
        return
    root.mkdir(parents=True, exist_ok=True)
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


def archive_root(config: Any) -> Path:
    """Return the absolute archive root the options name (default: <rootdir>/results)."""
    root_opt = config.getoption("exp_root") or config.getini("exp_root")
    rootdir = Path(config.rootpath)
    root = Path(root_opt) if root_opt else rootdir / "results"
    if not root.is_absolute():
        base = Path(config.invocation_params.dir) if config.getoption("exp_root") else rootdir
        root = base / root
    return root


def experiment_parent(
    root: Path, experiment: str, stamp: str, *, testing: bool, debug: bool
) -> Path:
    """Return the folder that holds this session's runs of one experiment."""
    base = root / TESTING_DIR if testing else root
    if debug:
        return base / safe_name(experiment) / DEBUG_DIR
    return base / safe_name(experiment) / stamp


def claim_debug_folder(folder: Path, stamp: str, controller: dict[str, Any] | None = None) -> None:
    """Make folder this session's debug folder, emptying it only when its owner has ended.

    Workers of one session (same stamp) share it. While another session that
    owns it is alive, raises debugfolder.DebugFolderBusy and leaves it untouched.
    `controller` identifies this session's controller (see debugfolder.process_identity).
    """
    from . import debugfolder

    debugfolder.claim(folder, stamp, controller)


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
