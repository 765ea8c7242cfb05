"""Checkpoints and --exp-resume as a user runs them: a killed run goes on from its checkpoint."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import XDIST_MODES, Archive

LONG = """
    import os
    from pathlib import Path

    import pytest

    EPOCHS = 12
    CRASH_AT = -1

    @pytest.mark.experiment(metric="loss")
    @pytest.mark.parametrize("lr", [0.2, 0.1])
    def test_long(exp, lr):
        found = exp.restore()
        state, start = (found[0], found[1] + 1) if found else ({"w": 1.0}, 0)
        exp["started_at"] = start
        for epoch in range(start, exp.EPOCHS):
            state["w"] *= 1 - lr
            exp.track("loss", state["w"], step=epoch)
            exp.track("epoch", epoch)  # automatic steps: carried too
            if epoch % 4 == 3:
                exp.checkpoint(state, step=epoch)
            if epoch == exp.CRASH_AT and lr == 0.1:
                os._exit(3)  # killed: no summary, no metrics.csv, only the journal
"""


def _steps(run: Path, name: str) -> list[int]:
    with open(run / "metrics.csv", newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle) if row["name"] == name]


def _values(run: Path, name: str) -> list[float]:
    with open(run / "metrics.csv", newline="") as handle:
        return [float(row["value"]) for row in csv.DictReader(handle) if row["name"] == name]


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_killed_run_resumes_from_its_checkpoint_as_one_continuous_run(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_long=LONG)
    pytester.runpytest_subprocess("-p", "no:xdist", "--exp-set", "CRASH_AT=9")
    (old,) = [r for r in archive.runs("long") if r.name == "lr=0.1"]
    assert not (old / "metrics.csv").exists()  # it died: its points are in the journal only
    result = pytester.runpytest(*mode, "--exp-resume")
    result.assert_outcomes(passed=2)  # lr=0.2 runs again too: CRASH_AT is not what it was
    new = next(r for r in archive.runs("long") if r.name == "lr=0.1" and r != old)
    header = archive.config(new)["experiment"]
    assert header["resumed_from"] == f"{old.parent.name}/lr=0.1"
    assert header["resumed_step"] == 7  # the checkpoint at epoch 7; it died at 9
    assert header["config_changes"] == {"CRASH_AT": {"was": 9, "now": -1}}
    assert archive.data(new)["started_at"] == 8
    assert _steps(new, "loss") == list(range(12))  # continuous, never a step twice
    assert _values(new, "loss") == pytest.approx([0.9 ** (k + 1) for k in range(12)])
    assert _steps(new, "epoch") == list(range(12))
    assert archive.config(old)["experiment"]["label"] == "superseded"
    assert archive.summary(old)["status"] == "crashed"
    assert archive.summary(new)["metrics"]["loss"]["count"] == 12
    ckpts = sorted(p.name for p in (new / "checkpoints").iterdir())
    assert ckpts == ["manifest.json", "step-000000000007.pkl", "step-000000000011.pkl"]
    table = (new.parent / "comparison.md").read_text()
    assert table.count("| lr=0.1 |") == 1 and table.count("| lr=0.2 |") == 1  # a row each
    again = pytester.runpytest(*mode, "--exp-resume")  # now both are complete: nothing runs
    again.assert_outcomes(skipped=2)


def test_without_a_checkpoint_resume_runs_the_point_again_from_the_start(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_long=LONG.replace("epoch % 4 == 3", "False"))
    pytester.runpytest_subprocess("-p", "no:xdist", "--exp-set", "CRASH_AT=9")
    pytester.runpytest("-p", "no:xdist", "--exp-resume").assert_outcomes(passed=2)
    old, new = sorted(
        (r for r in archive.runs("long") if r.name == "lr=0.1"),
        key=lambda r: archive.summary(r)["started"],
    )
    assert "resumed_from" not in archive.config(new)["experiment"]
    assert archive.data(new)["started_at"] == 0
    assert _steps(new, "loss") == list(range(12))
    assert archive.config(old)["experiment"]["label"] != "superseded"


def test_a_framework_s_own_checkpoint_file_comes_back_as_its_path(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_own="""
        import json
        import os

        import pytest

        CRASH = True

        @pytest.mark.experiment()
        def test_own(exp):
            found = exp.restore()
            start = json.loads(found[0].read_text())["next"] if found else 0
            exp["start"] = start
            for step in range(start, 6):
                exp.track("x", step, step=step)
                if step == 2:
                    path = exp.checkpoint_path(step)
                    path.write_text(json.dumps({"next": step + 1}))  # torch.save(..., path)
                if step == 4 and exp.CRASH:
                    exp.checkpoint_path(4)  # asked for, and killed before it was written
                    os._exit(3)
        """
    )
    pytester.runpytest_subprocess("-p", "no:xdist")
    result = pytester.runpytest("-p", "no:xdist", "--exp-resume", "--exp-set", "CRASH=False")
    result.assert_outcomes(passed=1)
    new = max(archive.runs("own"), key=lambda r: archive.summary(r)["started"])
    assert archive.data(new)["start"] == 3
    assert archive.config(new)["experiment"]["resumed_step"] == 2
    assert _steps(new, "x") == list(range(6))


def test_bad_checkpoint_arguments_fail_the_run_with_the_reason(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.experiment()
        @pytest.mark.parametrize("case", ["keep", "step", "lambda"])
        def test_bad(exp, case):
            if case == "keep":
                exp.checkpoint({}, keep=0)
            elif case == "step":
                exp.checkpoint_path(step=-3)
            else:
                exp.checkpoint(lambda: 1, step=1)
        """
    )
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    assert "exp.checkpoint: keep=0: give a whole number of at least 1" in out
    assert "exp.checkpoint_path: step=-3: give a whole number of at least 0" in out
    assert "cannot be pickled" in out
