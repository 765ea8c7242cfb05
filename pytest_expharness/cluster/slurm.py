"""Submitting a session's tests to SLURM as one job array.

`pytest experiments/ -k big --exp-slurm` collects as usual, then, instead of
running the tests, writes into `<root>/_slurm/<session>/`:

    nodeids.txt    the selected node ids, one a line (task i runs lines i*K+1 .. i*K+K)
    targets.txt    the same tests as a task gives them to pytest: absolute file paths
    points.json    what the table needs of each point, for those that never run
    session.json   the stamp, command line and provenance every task reuses
    job.sbatch     the job script (kept for provenance)
    job.json       the job id, task count, chunk size and sbatch options
    logs/          each task's stdout and stderr
    tasks/         each task's exit code, written when its pytest returns

and submits `sbatch --parsable --array=0-N%P job.sbatch`. Each task runs
`python -m pytest <its targets>` in the submitting directory with the
session's options, and with the submitting session's rootdir, ini file and
confcutdir pinned (`--rootdir`, `-c`, `--confcutdir`). pytest finds its rootdir
before it knows plugin options, so it takes the value of `--exp-root
/scratch/...` for a test path: once the controller has made that folder, a task
left to itself would root at the common ancestor (`/`, or an ini file found
there), every node id would change and no run would be recognised. Pinned, node
ids match and the runs land in the same archive.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..archive import layout

SLURM_DIR = "_slurm"
NODEIDS = "nodeids.txt"
TARGETS = "targets.txt"
POINTS = "points.json"
SESSION = "session.json"
SCRIPT = "job.sbatch"
JOB = "job.json"


class SlurmError(Exception):
    """A SLURM submission or collection that cannot go on (said in one line)."""


def job_folder(root: Path, stamp: str) -> Path:
    """Return the folder holding a session's SLURM job files."""
    return root / SLURM_DIR / stamp


def _read(path: Path, problem: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise SlurmError(f"{problem} ({error})") from None
    return data


def read_session(folder: Path) -> dict[str, Any]:
    """Return what a task reuses of the submitting session (stamp, command, provenance)."""
    return _read(folder / SESSION, f"--exp-slurm-task {folder}: no readable {SESSION}")


def read_job(folder: Path) -> dict[str, Any]:
    """Return job.json of a submitted session."""
    return _read(folder / JOB, f"{folder}: no readable {JOB}; was it submitted?")


VALUED = (
    "--exp-slurm-opt", "--exp-slurm-parallel", "--exp-slurm-chunk", "--exp-slurm-task",
    "--exp-slurm-grace",
)  # fmt: skip
PINNED = ("-c", "--config-file", "--rootdir", "--confcutdir")  # the tasks get the resolved ones


def passthrough(config: Any) -> list[str]:
    """Return the submitting command line, less its test selection and --exp-slurm options.

    Every other option (the plugin's, conftest options, -o, -p, -W ...) reaches
    the tasks as it was given; tasks start in the same directory, so relative
    paths mean the same. Rootdir, ini file and confcutdir come first, pinned to
    what this session resolved. A task's tests are given as absolute paths.
    """
    positional = {str(a) for a in (config.option.file_or_dir or [])}
    out: list[str] = []
    args = [str(a) for a in config.invocation_params.args]
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in VALUED or arg in PINNED:
            skip = True
        elif arg.startswith("--exp-slurm") or arg.split("=")[0] in PINNED:
            continue  # --exp-slurm, --exp-slurm-detach, --exp-slurm-opt=..., --rootdir=...
        elif arg.startswith("-c") and not arg.startswith("--"):
            continue  # -cFILE
        elif arg not in positional:
            out.append(arg)
    return ["-p", "no:cacheprovider", *pinned(config), *out]


def pinned(config: Any) -> list[str]:
    """Return the options that give a task this session's rootdir, ini file and confcutdir.

    Without an ini file here, `-c /dev/null` keeps a task from finding one elsewhere.
    """
    here = Path(config.invocation_params.dir)
    inipath = config.inipath
    confcutdir = getattr(config.known_args_namespace, "confcutdir", None) or config.rootpath
    return [
        f"--rootdir={Path(config.rootpath)}",
        f"--config-file={Path(here, inipath) if inipath else os.devnull}",
        f"--confcutdir={Path(here, confcutdir)}",
    ]


def target(path: Path, nodeid: str) -> str:
    """Return a node id as a task gives it to pytest: its file part an absolute path."""
    _, sep, rest = nodeid.partition("::")
    return f"{path}{sep}{rest}"


@dataclass
class Plan:
    """One job array: which node ids, how many per task, how many at once, which options."""

    folder: Path
    nodeids: list[str]
    targets: list[str]
    chunk: int = 1
    parallel: int | None = None
    options: list[str] = field(default_factory=list)
    grace: int = 0  # seconds of warning (USR1) before the time limit; 0: none, no requeue

    @property
    def tasks(self) -> int:
        return -(-len(self.nodeids) // self.chunk)


def check_options(config: Any) -> None:
    """Refuse options --exp-slurm cannot take, at configure time (before xdist starts); in a
    task, handle SLURM's USR1 (cluster/preempt.py)."""
    task = config.getoption("exp_slurm_task", None)
    if task:
        from .preempt import install

        install(Path(task))
        return
    grace = config.getoption("exp_slurm_grace")
    if grace < 0:
        raise SlurmError(f"--exp-slurm-grace {grace}: give seconds, 0 or more (0: no signal)")
    for option, what in (("exp_resume", "--exp-resume"), ("exp_debug", "--exp-debug")):
        if config.getoption(option):
            raise SlurmError(f"--exp-slurm does not take {what}")
    if config.getoption("numprocesses", None):
        raise SlurmError(
            "--exp-slurm runs the tests on the cluster: drop -n (see --exp-slurm-chunk)"
        )
    chunk, parallel = config.getoption("exp_slurm_chunk"), config.getoption("exp_slurm_parallel")
    if chunk < 1:
        raise SlurmError(f"--exp-slurm-chunk {chunk}: give 1 or more")
    if parallel is not None and parallel < 1:
        raise SlurmError(f"--exp-slurm-parallel {parallel}: give 1 or more")
    from shutil import which

    for name in ("sbatch", "squeue"):
        if which(name) is None:
            raise SlurmError(f"--exp-slurm: `{name}` is not on PATH; is this a SLURM login node?")


def check(nodeids: list[str]) -> None:
    """Refuse an empty selection, before anything is written or submitted."""
    if not nodeids:
        raise SlurmError("--exp-slurm: no test selected; nothing to submit")


def script(plan: Plan, where: Path, args: list[str]) -> str:
    """Return the job script: each array task runs its lines of targets.txt with pytest."""
    from .preempt import MARK

    q = shlex.quote
    folder = plan.folder.resolve()
    mark = MARK.format(task='"$SLURM_ARRAY_TASK_ID"')  # the file preempt.marker writes
    lines = [
        "#!/bin/bash",
        "#SBATCH --job-name=expharness",
        f"#SBATCH --output={folder}/logs/task-%a.out",
        f"#SBATCH --error={folder}/logs/task-%a.err",
        *([f"#SBATCH --signal=B:USR1@{plan.grace}", "#SBATCH --requeue"] if plan.grace else []),
        *[f"#SBATCH {option}" for option in plan.options],
        "# written by pytest-expharness --exp-slurm; kept for provenance",
        "set -u",
        f"cd {q(str(where))}",
        f"K={plan.chunk}",
        "FIRST=$((SLURM_ARRAY_TASK_ID * K + 1))",
        "LAST=$((FIRST + K - 1))",
        f'mapfile -t IDS < <(sed -n "${{FIRST}},${{LAST}}p" {q(str(folder / TARGETS))})',
        "WORKERS=()",
        'if [ "${#IDS[@]}" -gt 1 ] && [ "${SLURM_CPUS_PER_TASK:-1}" -gt 1 ]; then',
        '  WORKERS=(-n "$SLURM_CPUS_PER_TASK")',
        "fi",
        f"{q(sys.executable)} -m pytest {' '.join(q(a) for a in args)} "
        f'--exp-slurm-task {q(str(folder))} "${{WORKERS[@]}}" "${{IDS[@]}}" &',
        "PID=$!",
        "trap 'kill -USR1 \"$PID\" 2>/dev/null' USR1  # SLURM's warning: pytest ends its run",
        'while :; do wait "$PID"; code=$?; kill -0 "$PID" 2>/dev/null || break; done',
        f"MARK={q(str(folder))}/tasks/{mark}",
        'if [ -f "$MARK" ]; then',
        '  rm -f "$MARK"',
        '  scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}" && exit 0',
        "fi",
        f'echo "$code" > {q(str(folder))}/tasks/"$SLURM_ARRAY_TASK_ID".exit',
        'exit "$code"',
    ]
    return "\n".join(lines) + "\n"


def write_files(
    plan: Plan,
    where: Path,
    args: list[str],
    session: dict[str, Any],
    points: dict[str, Any],
) -> Path:
    """Write every file of the job into its folder; return the script's path."""
    plan.folder.mkdir(parents=True, exist_ok=True)
    for sub in ("logs", "tasks"):
        (plan.folder / sub).mkdir(exist_ok=True)
    layout.atomic_write_text(plan.folder / NODEIDS, "".join(f"{n}\n" for n in plan.nodeids))
    layout.atomic_write_text(plan.folder / TARGETS, "".join(f"{t}\n" for t in plan.targets))
    layout.write_json(plan.folder / POINTS, points)
    layout.write_json(plan.folder / SESSION, session)
    path = plan.folder / SCRIPT
    layout.atomic_write_text(path, script(plan, where, args))
    return path


def submit(plan: Plan, script_path: Path) -> str:
    """Submit the job array with sbatch; record and return the job id."""
    array = f"0-{plan.tasks - 1}" + (f"%{plan.parallel}" if plan.parallel else "")
    command = ["sbatch", "--parsable", f"--array={array}", str(script_path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        raise SlurmError(f"sbatch failed: {error}") from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise SlurmError(f"sbatch refused the job: {message[-1] if message else done.returncode}")
    job_id = done.stdout.strip().split(";")[0]
    layout.write_json(
        plan.folder / JOB,
        {
            "job_id": job_id,
            "tasks": plan.tasks,
            "chunk": plan.chunk,
            "parallel": plan.parallel,
            "options": plan.options,
            "command": command,
            "points": len(plan.nodeids),
        },
    )
    return job_id
