"""The component status protocol: success with data, failed with the error, disabled with why."""

from __future__ import annotations

import re

import numpy  # noqa: F401  (see below)
import pytest

from conftest import XDIST_MODES, Archive

# pytester restores sys.modules after every in-process session and numpy cannot be
# imported twice in one process: importing it here keeps it loaded across sessions.


def component_rows(report: str) -> dict[str, list[str]]:
    """The rows of REPORT.md's component table: name -> [status, reason, hint]."""
    lines = report.splitlines()
    start = lines.index("## Components")
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if not line.startswith("| ") or line.startswith(("| component", "| ---", "|  ↳")):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_success_with_data(pytester: pytest.Pytester, archive: Archive, mode: list[str]) -> None:
    pytester.makepyfile(
        test_exp="""
        import numpy as np

        def test_train(exp):
            with exp.component("mixture_prior") as c:
                c.data["k_eff"] = 8.3
                c.data["weights"] = np.array([0.5, 0.25, 0.25])
                c.data["k"] = np.int64(3)
            assert exp.component("mixture_prior") is c
        """
    )
    pytester.runpytest(*mode).assert_outcomes(passed=1)
    run = archive.run("train")
    assert archive.summary(run)["components"] == {
        "mixture_prior": {
            "status": "success",
            "reason": None,
            "data": {"k_eff": 8.3, "weights": [0.5, 0.25, 0.25], "k": 3},
            "hint": None,
        }
    }
    assert archive.summary(run)["status"] == "completed"


def test_exception_in_the_block_records_failed_and_the_run_goes_on(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        def fit_prior(k):
            raise ValueError(f"k must be positive, got {k}")

        def test_train(exp):
            with exp.component("mixture_prior") as c:
                c.data["k"] = -1
                fit_prior(-1)
                c.data["never"] = True
            exp["after/ran"] = True
            exp.track("loss", 0.5)
            assert c.status == "failed"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    summary = archive.summary(run)
    assert summary["status"] == "completed"
    assert summary["components"]["mixture_prior"] == {
        "status": "failed",
        "reason": "ValueError: k must be positive, got -1",
        "data": {"k": -1},
        "hint": None,
    }
    assert archive.data(run) == {"after": {"ran": True}}
    assert summary["metrics"]["loss"]["count"] == 1
    log = archive.log(run)
    assert "component 'mixture_prior' failed" in log
    assert "Traceback (most recent call last)" in log
    assert "in fit_prior" in log
    assert "ValueError: k must be positive, got -1" in log


def test_disable_with_reason_and_hint(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        USE_TAU: bool = False

        def test_train(exp):
            if not exp.USE_TAU:
                exp.component("tau_classifier").disable(
                    "use_tau_classifier=false", hint="set USE_TAU=True"
                )
            exp.component("decoder_probe").disable("no probe data")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert archive.summary(run)["components"] == {
        "tau_classifier": {
            "status": "disabled",
            "reason": "use_tau_classifier=false",
            "data": {},
            "hint": "set USE_TAU=True",
        },
        "decoder_probe": {
            "status": "disabled",
            "reason": "no probe data",
            "data": {},
            "hint": None,
        },
    }
    assert "component 'tau_classifier' disabled: use_tau_classifier=false" in archive.log(run)


def test_disable_inside_the_block_stays_disabled(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    # Deciding inside the block that a component does not apply is natural; leaving the
    # block normally must not turn the recorded "disabled" into "success".
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            with exp.component("tau_classifier") as c:
                c.disable("only 1 class in the labels", hint="use a dataset with 2+ classes")
            with exp.component("probe") as p:
                p.fail("probe accuracy is NaN", hint="check the labels")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    components = archive.summary(archive.run("train"))["components"]
    assert components["tau_classifier"] == {
        "status": "disabled",
        "reason": "only 1 class in the labels",
        "data": {},
        "hint": "use a dataset with 2+ classes",
    }
    assert components["probe"] == {
        "status": "failed",
        "reason": "probe accuracy is NaN",
        "data": {},
        "hint": "check the labels",
    }


def test_keyboard_interrupt_inside_a_component_is_not_swallowed(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            exp.track("loss", 1.0)
            exp.track("loss", 0.5)
            with exp.component("slow_eval"):
                raise KeyboardInterrupt
            exp["after/ran"] = True

        def test_next(exp):
            exp["next/ran"] = True
        """
    )
    result = pytester.runpytest(no_reraise_ctrlc=True)  # in-process: keep Ctrl-C inside
    assert result.ret == pytest.ExitCode.INTERRUPTED
    run = archive.run("train")
    summary = archive.summary(run)
    assert summary["status"] == "interrupted"
    assert summary["components"]["slow_eval"]["status"] != "success"
    assert "KeyboardInterrupt" in summary["components"]["slow_eval"]["reason"]
    data = archive.data(run) if (run / "data.json").exists() else {}
    assert "after" not in data, "code after the interrupted block ran"
    assert summary["metrics"]["loss"]["count"] == 2
    assert archive.runs("next") == [], "the session went on after Ctrl-C"


def test_unstorable_component_data_is_reported(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            with exp.component("encoder") as c:
                c.data["k_eff"] = 8.3
                c.data["model"] = object()
            exp["after/ran"] = True
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    record = archive.summary(run)["components"]["encoder"]
    assert record["status"] == "failed"
    assert record["reason"].startswith("TypeError: ")
    assert "'model'" in record["reason"] and "cannot store a builtins.object" in record["reason"]
    assert archive.data(run) == {"after": {"ran": True}}
    rows = component_rows((run / "REPORT.md").read_text())
    assert rows["encoder"][0] == "failed"
    assert "cannot store" in rows["encoder"][1]


def test_report_shows_every_component_with_status_reason_and_hint(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            with exp.component("mixture_prior") as c:
                c.data["k_eff"] = 8.3
            with exp.component("vq_codebook"):
                raise RuntimeError("codebook collapsed")
            exp.component("tau_classifier").disable(
                "use_tau_classifier=false", hint="set USE_TAU=True"
            )
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    report = (run / "REPORT.md").read_text()
    assert component_rows(report) == {
        "mixture_prior": ["success", "", ""],
        "vq_codebook": ["failed", "RuntimeError: codebook collapsed", ""],
        "tau_classifier": ["disabled", "use_tau_classifier=false", "set USE_TAU=True"],
    }
    assert "|  ↳ k_eff | 8.3 | | |" in report
    assert list(archive.summary(run)["components"]) == [
        "mixture_prior",
        "vq_codebook",
        "tau_classifier",
    ]


def test_report_table_survives_multiline_and_pipe_messages(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            with exp.component("shapes"):
                raise ValueError("shapes differ:\\n(3,) vs (4,)")
            exp.component("probe").disable("a|b test", hint="set A|B")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    components = archive.summary(run)["components"]
    assert components["shapes"]["reason"] == "ValueError: shapes differ:\n(3,) vs (4,)"
    lines = (run / "REPORT.md").read_text().splitlines()
    start = lines.index("## Components")
    table = [line for line in lines[start + 1 :] if line][: 2 + len(components)]
    assert all(line.startswith("|") and line.endswith("|") for line in table), table
    rows = component_rows("\n".join(lines))
    assert set(rows) == {"shapes", "probe"}
    assert all(len(cells) == 3 for cells in rows.values()), rows
    assert rows["shapes"][0] == "failed" and "(3,) vs (4,)" in rows["shapes"][1]
    assert rows["probe"][0] == "disabled"


def test_components_are_recorded_when_the_run_fails(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            with exp.component("prior") as c:
                c.data["k"] = 2
            exp.component("probe").disable("not needed")
            raise AssertionError("final loss too high")
        """
    )
    pytester.runpytest().assert_outcomes(failed=1)
    run = archive.run("train")
    summary = archive.summary(run)
    assert summary["status"] == "failed"
    assert summary["components"]["prior"]["status"] == "success"
    assert summary["components"]["prior"]["data"] == {"k": 2}
    assert summary["components"]["probe"]["status"] == "disabled"
    rows = component_rows((run / "REPORT.md").read_text())
    assert rows["prior"][0] == "success" and rows["probe"] == ["disabled", "not needed", ""]


def test_a_component_asked_for_but_never_run_is_not_silently_dropped(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            prior = exp.component("prior")
            prior.data["planned"] = True
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    record = archive.summary(run)["components"]["prior"]
    assert record["status"] not in ("success", "disabled")
    assert record["data"] == {"planned": True}
    assert "prior" in component_rows((run / "REPORT.md").read_text())


def test_pytest_skip_inside_a_component_says_why(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest

        def test_train(exp):
            with exp.component("gpu_eval"):
                pytest.skip("no GPU on this machine")
        """
    )
    pytester.runpytest().assert_outcomes(skipped=1)
    summary = archive.summary(archive.run("train"))
    assert summary["status"] == "skipped"
    record = summary["components"]["gpu_eval"]
    assert record["status"] != "success"
    assert "no GPU on this machine" in (record["reason"] or ""), record
    assert "interrupted" not in (record["reason"] or ""), record
