"""--exp-slurm with the archive outside the project: the tasks keep the session's rootdir.

On clusters the results go to scratch while the code stays in home
(`pytest test_grid.py --exp-root /scratch/me/results --exp-slurm`). pytest finds
its rootdir before it knows plugin options, so it reads the root as a path; once
the controller has made that folder, a task left to find its own rootdir would
take the common ancestor of root and tests (or an ini file there), every node id
would change and every point would read crashed beside runs nobody recognises.
"""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

# test_slurm skips (or fails under CI=true) this module too when no SLURM controller answers
from test_slurm import GRID, _header, _job_folder, _job_ids, _output, _rows, _runs, _sweep
from test_slurm import _session as _slurm_session

pytestmark = pytest.mark.slow

USES_CONFTEST = """
    import pytest

    @pytest.fixture
    def offset():
        return 0.5
"""

GRID_WITH_FIXTURE = GRID.replace("(exp, latent, beta):", "(exp, latent, beta, offset):")


@pytest.fixture
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder outside the pytester folder; its SLURM jobs are cancelled at the end."""
    folder = tmp_path_factory.mktemp("scratch")
    yield folder
    for job_id in _job_ids(folder):
        subprocess.run(["scancel", job_id], capture_output=True, check=False, timeout=60)


def _assert_nine_completed(result: pytest.RunResult, root: Path) -> None:
    assert result.ret == 0, _output(result)
    result.assert_outcomes(passed=9)
    rows = _rows(_sweep(root, "train"))
    assert len(rows) == 9
    assert {row["status"] for row in rows.values()} == {"completed"}, rows
    nodeids = (_job_folder(root) / "nodeids.txt").read_text().splitlines()
    runs = _runs(_sweep(root, "train"))
    assert sorted(_header(run)["node_id"] for run in runs) == sorted(nodeids)


def test_root_outside_a_project_without_ini_file(pytester: pytest.Pytester, scratch: Path) -> None:
    pytester.makeconftest(USES_CONFTEST)  # found by the tasks too (their confcutdir is pinned)
    pytester.makepyfile(test_grid=GRID_WITH_FIXTURE)
    root = scratch / "results"  # made by the controller, after its own rootdir is known
    result = _slurm_session(pytester, "test_grid.py", "--exp-root", str(root), "--exp-slurm")
    _assert_nine_completed(result, root)
    assert "crashed" not in result.stdout.str()
    assert not (pytester.path / "results").exists()
    nodeids = (_job_folder(root) / "nodeids.txt").read_text().splitlines()
    assert all(n.startswith("test_grid.py::test_train[") for n in nodeids), nodeids


def test_root_outside_a_project_with_an_ini_file_above_both(
    pytester: pytest.Pytester, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # <workspace>/tox.ini holds the workspace's own pytest section; the code is
    # <workspace>/code with its pytest.ini, the results go to <workspace>/results
    (scratch / "tox.ini").write_text("[pytest]\n")
    code = scratch / "code"
    code.mkdir()
    (code / "pytest.ini").write_text("[pytest]\n")
    (code / "test_grid.py").write_text(textwrap.dedent(GRID))
    root = scratch / "results"
    monkeypatch.chdir(code)
    result = _slurm_session(pytester, "--exp-root", str(root), "--exp-slurm")
    _assert_nine_completed(result, root)
    task_log = (_job_folder(root) / "logs" / "task-0.out").read_text()
    assert f"rootdir: {code}\n" in task_log, task_log
    assert "configfile: pytest.ini" in task_log, task_log
