"""The code a run ran: `<run>/code/` holds the experiment module, and with
--exp-reproducible also its conftest files, the uncommitted git changes as a
patch and every installed package version.

The module copy is read once per process while the file is unchanged, so
every run pays one small file write for it. The reproducible extras are
gathered once per process, on the first run.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..archive import layout
from ..plan.sources import source

CODE = "code"
PATCH = "uncommitted.patch"
REQUIREMENTS = "requirements.txt"
MAX_UNTRACKED_BYTES = 1_000_000  # one untracked file
MAX_UNTRACKED_TOTAL = 5_000_000  # all of them: data folders do not belong in every run


def conftests_of(module: Path, rootdir: Path) -> list[Path]:
    """Return the conftest.py files pytest loads for a module, from the rootdir down."""
    found = []
    folder = module.parent
    while True:
        candidate = folder / "conftest.py"
        if candidate.is_file():
            found.append(candidate)
        if folder == rootdir or folder.parent == folder or rootdir not in folder.parents:
            break
        folder = folder.parent
    return found[::-1]


def installed_packages() -> str:
    """Return every installed distribution as `name==version` lines, sorted."""
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in {n.lower() for n in seen}:
            seen[name] = dist.version
    return "".join(f"{n}=={v}\n" for n, v in sorted(seen.items(), key=lambda i: i[0].lower()))


def _git(cwd: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _new_file_diff(relative: str, data: bytes) -> bytes:
    """Return a git-style patch that creates a text file (apply with `git apply`)."""
    lines = data.split(b"\n")
    last_newline = data.endswith(b"\n")
    if last_newline:
        lines = lines[:-1]
    head = (
        f"diff --git a/{relative} b/{relative}\nnew file mode 100644\n"
        f"--- /dev/null\n+++ b/{relative}\n@@ -0,0 +1,{len(lines)} @@\n"
    ).encode()
    body = b"".join(b"+" + line + b"\n" for line in lines)
    if not last_newline:
        body += b"\\ No newline at end of file\n"
    return head + body


def uncommitted_patch(rootdir: Path, archive_root: Path) -> bytes | None:
    """Return the uncommitted changes of the repository at rootdir as one patch.

    Tracked changes come from `git diff HEAD --binary`; untracked text files
    (outside the archive root, up to 1 MB each and 5 MB in all) are added as new files, so
    `git apply` on a checkout of the recorded commit restores the tree the
    run saw. None outside git.
    """
    top_out = _git(rootdir, "rev-parse", "--show-toplevel")
    if top_out is None:
        return None
    top = Path(top_out.decode().strip())
    diff = _git(top, "diff", "HEAD", "--binary") or b""
    listed = _git(top, "ls-files", "--others", "--exclude-standard", "-z") or b""
    skipped: list[str] = []
    parts = [diff]
    total = 0
    root = archive_root.resolve()
    for name in filter(None, listed.decode(errors="surrogateescape").split("\0")):
        path = top / name
        if path.resolve() == root or root in path.resolve().parents:
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if len(data) > MAX_UNTRACKED_BYTES or b"\0" in data[:8192]:
            skipped.append(name)
            continue
        if total + len(data) > MAX_UNTRACKED_TOTAL:
            skipped.append(name)
            continue
        total += len(data)
        parts.append(_new_file_diff(name, data))
    if skipped:
        note = "".join(
            f"# not included (binary, over 1 MB, or past 5 MB of untracked files): {n}\n"
            for n in skipped
        )
        parts.insert(0, note.encode())
    return b"".join(parts)


@dataclass
class Reproducible:
    """What --exp-reproducible adds to every run of a process, gathered once."""

    requirements: str
    patch: bytes | None

    @classmethod
    def gather(cls, rootdir: Path, archive_root: Path) -> Reproducible:
        """Read the installed packages and the uncommitted changes."""
        return cls(installed_packages(), uncommitted_patch(rootdir, archive_root))


def _relative(path: Path, rootdir: Path) -> Path:
    try:
        return path.relative_to(rootdir)
    except ValueError:
        return Path(path.name)


def write_code(
    run: Path,
    module: str | None,
    rootdir: Path,
    extra: Reproducible | None,
    bases: tuple[str, ...] = (),
) -> list[str]:
    """Write a run's code/ folder, mirroring paths under the rootdir; return what it wrote.

    `bases` are the modules of a variant's base classes, copied beside it. The
    returned paths are relative to code/, the experiment module's first.
    """
    if module is None:
        return []
    path = Path(module)
    data = source(path)
    if data is None:
        return []
    folder = run / CODE
    files = [(_relative(path, rootdir), data)]
    for base in bases:
        found = source(Path(base))
        if found is not None:
            files.append((_relative(Path(base), rootdir), found))
    if extra is not None:
        files += [(_relative(c, rootdir), c.read_bytes()) for c in conftests_of(path, rootdir)]
    for relative, content in files:
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    written = [relative.as_posix() for relative, _ in files]
    if extra is not None:
        layout.atomic_write_text(folder / REQUIREMENTS, extra.requirements)
        written.append(REQUIREMENTS)
        if extra.patch is not None:
            layout.atomic_write_bytes(folder / PATCH, extra.patch)
            written.append(PATCH)
    return written


def slurm_ids() -> dict[str, str | None] | None:
    """The SLURM job, array task and node of this process, when it runs as a SLURM task."""
    import os

    if "SLURM_JOB_ID" not in os.environ:
        return None
    return {
        "job_id": os.environ.get("SLURM_JOB_ID"),
        "array_job_id": os.environ.get("SLURM_ARRAY_JOB_ID"),
        "array_task_id": os.environ.get("SLURM_ARRAY_TASK_ID"),
        "node": os.environ.get("SLURMD_NODENAME"),
    }
