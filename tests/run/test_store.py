"""The data store: `exp["results/final_loss"] = v`, nested groups, data.json, summary results."""

from __future__ import annotations

import numpy  # noqa: F401  (see below)
import pytest

from conftest import Archive

# pytester restores sys.modules after every in-process session and numpy cannot be
# imported twice in one process: importing it here keeps it loaded across sessions.


def test_assign_and_read_back(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            exp["results/final_loss"] = 0.25
            assert exp["results/final_loss"] == 0.25
            exp["results/final_loss"] = 0.125          # overwrite
            assert exp["results/final_loss"] == 0.125
            exp["epochs_done"] = 7
            assert exp["epochs_done"] == 7
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert archive.data(run) == {"results": {"final_loss": 0.125}, "epochs_done": 7}


def test_nested_groups_read_as_dicts_and_persist_by_slash_parts(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            exp["metrics/train/loss"] = 0.5
            exp["metrics/train/acc"] = 0.75
            exp["metrics/val/loss"] = 0.625
            exp["name"] = "vq"
            assert exp["metrics"] == {
                "train": {"loss": 0.5, "acc": 0.75},
                "val": {"loss": 0.625},
            }
            assert exp["metrics/train"] == {"loss": 0.5, "acc": 0.75}
            assert isinstance(exp["metrics/val"], dict)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert archive.data(archive.run("train")) == {
        "metrics": {"train": {"loss": 0.5, "acc": 0.75}, "val": {"loss": 0.625}},
        "name": "vq",
    }


def test_contains(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            assert "results/final_loss" not in exp
            exp["results/final_loss"] = 1.5
            assert "results/final_loss" in exp
            assert "results" in exp
            assert "results/other" not in exp
            assert "final_loss" not in exp
            assert "results/final_loss/deeper" not in exp
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_reading_a_missing_key_raises_key_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest

        def test_train(exp):
            exp["results/a"] = 1
            with pytest.raises(KeyError):
                exp["results/b"]
            with pytest.raises(KeyError):
                exp["nothing"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_numpy_path_datetime_and_sets_are_stored(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import datetime as dt
        from pathlib import Path
        import numpy as np

        def test_train(exp):
            exp["np/f64"] = np.float64(0.5)
            exp["np/f32"] = np.float32(0.25)
            exp["np/i64"] = np.int64(42)
            exp["np/flag"] = np.bool_(True)
            exp["np/vector"] = np.arange(3)
            exp["np/matrix"] = np.array([[1.5, 2.5], [3.5, 4.5]])
            exp["path"] = Path("out") / "model.pt"
            exp["when"] = dt.datetime(2024, 5, 17, 13, 45, 30)
            exp["day"] = dt.date(2024, 5, 17)
            exp["labels"] = {"b", "c", "a"}
            exp["mixed"] = {"n": np.int32(3), "xs": (1, 2)}
            # reads give back the object that was stored
            assert isinstance(exp["np/vector"], np.ndarray)
            assert exp["path"] == Path("out/model.pt")
            assert exp["labels"] == {"a", "b", "c"}
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    data = archive.data(archive.run("train"))
    assert data["np"] == {
        "f64": 0.5,
        "f32": 0.25,
        "i64": 42,
        "flag": True,
        "vector": [0, 1, 2],
        "matrix": [[1.5, 2.5], [3.5, 4.5]],
    }
    assert isinstance(data["np"]["i64"], int)
    assert data["np"]["flag"] is True
    assert data["path"] == "out/model.pt"
    assert data["when"] == "2024-05-17T13:45:30"
    assert data["day"] == "2024-05-17"
    assert data["labels"] == ["a", "b", "c"]
    assert data["mixed"] == {"n": 3, "xs": [1, 2]}


@pytest.mark.parametrize(
    ("expression", "kind"),
    [
        ("object()", "object"),
        ("lambda x: x", "function"),
        ("complex(1, 2)", "complex"),
        ("{'ok': 1, 'bad': object()}", "object"),
        ("[1, 2, open]", "builtin_function_or_method"),
        ("np.array([1 + 2j])", ""),
    ],
    ids=["object", "lambda", "complex", "nested-object", "nested-builtin", "complex-array"],
)
def test_unstorable_value_raises_type_error_naming_the_key(
    pytester: pytest.Pytester, archive: Archive, expression: str, kind: str
) -> None:
    pytester.makepyfile(
        test_exp=f"""
        import numpy as np
        import pytest

        def test_train(exp):
            exp["results/kept"] = 1
            exp["results/bad"] = 2       # an earlier good value under the same key
            with pytest.raises(TypeError) as caught:
                exp["results/bad"] = {expression}
            message = str(caught.value)
            assert "results/bad" in message, message
            assert {kind!r} in message, message
            assert exp["results/bad"] == 2, "the failed assignment replaced the old value"
            with pytest.raises(TypeError, match="fresh/key"):
                exp["fresh/key"] = {expression}
            assert "fresh/key" not in exp
            assert "fresh" not in exp, "a failed assignment created its group"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert archive.data(run) == {"results": {"kept": 1, "bad": 2}}
    assert archive.summary(run)["results"] == {"results/kept": 1, "results/bad": 2}
    assert archive.summary(run)["status"] == "completed"


def test_unstorable_value_left_unhandled_fails_the_run_with_the_key(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            exp["results/model"] = object()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*results/model*cannot store a builtins.object*"])
    run = archive.run("train")
    summary = archive.summary(run)
    assert summary["status"] == "failed"
    assert "results/model" in summary["error"]["message"]
    assert "cannot store a builtins.object" in summary["error"]["message"]
    assert not (run / "data.json").exists() or archive.data(run) == {}
    assert summary["results"] == {}


def test_assigning_under_a_value_raises_a_clear_error(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest

        def test_train(exp):
            exp["results/loss"] = 0.5
            with pytest.raises(KeyError) as caught:
                exp["results/loss/final"] = 0.25
            message = str(caught.value)
            assert "results/loss/final" in message, message
            assert "'results/loss' holds a value" in message, message
            with pytest.raises(KeyError, match="holds a value"):
                exp["results/loss/a/b"] = 1
            assert exp["results/loss"] == 0.5
            assert exp["results"] == {"loss": 0.5}
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert archive.data(archive.run("train")) == {"results": {"loss": 0.5}}


def test_bad_keys_are_refused(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest

        def test_train(exp):
            for key in ["", "a//b", "/a", "a/", 3]:
                with pytest.raises(KeyError):
                    exp[key] = 1
            exp["ok"] = 1
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert archive.data(archive.run("train")) == {"ok": 1}


def test_summary_results_lists_scalar_leaves_by_slash_key(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import numpy as np

        def test_train(exp):
            exp["results/final_loss"] = 0.125
            exp["results/best/epoch"] = np.int64(12)
            exp["results/best/ok"] = True
            exp["results/curve"] = [1.0, 0.5, 0.25]     # not a scalar
            exp["results/weights"] = np.zeros(3)        # not a scalar
            exp["model"] = "vq-vae"
            exp["note"] = None
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert archive.summary(run)["results"] == {
        "results/final_loss": 0.125,
        "results/best/epoch": 12,
        "results/best/ok": True,
        "model": "vq-vae",
        "note": None,
    }
    assert archive.data(run)["results"]["curve"] == [1.0, 0.5, 0.25]
    assert archive.data(run)["results"]["weights"] == [0.0, 0.0, 0.0]
    report = (run / "REPORT.md").read_text()
    assert "| results/final_loss | 0.125 |" in report


def test_data_reaches_disk_while_the_run_goes_on(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import json
        import time

        def test_train(exp):
            exp["progress/epoch"] = 3
            path = exp.path / "data.json"
            deadline = time.time() + 2.5
            while time.time() < deadline:
                if path.exists() and json.loads(path.read_text()) == {"progress": {"epoch": 3}}:
                    break
                time.sleep(0.02)
            else:
                raise AssertionError("data.json never showed the stored value during the run")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert archive.data(archive.run("train")) == {"progress": {"epoch": 3}}


def test_data_of_a_failed_run_is_kept(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            exp["results/partial"] = 0.5
            raise RuntimeError("diverged")
        """
    )
    pytester.runpytest().assert_outcomes(failed=1)
    run = archive.run("train")
    assert archive.summary(run)["status"] == "failed"
    assert archive.data(run) == {"results": {"partial": 0.5}}
    assert archive.summary(run)["results"] == {"results/partial": 0.5}


def test_values_changed_in_place_after_assignment_are_persisted(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    # The PyComex habit: store a container, then grow it as training goes on.
    # What exp["history"] reads back and what data.json holds must not disagree.
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            exp["history/loss"] = []
            for loss in [1.0, 0.5, 0.25]:
                exp["history/loss"].append(loss)
            assert exp["history/loss"] == [1.0, 0.5, 0.25]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert archive.data(archive.run("train")) == {"history": {"loss": [1.0, 0.5, 0.25]}}


def test_storing_under_a_stored_dict_does_not_change_the_callers_dict(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            config = {"lr": 0.5}
            exp["config"] = config
            exp["config/epochs"] = 3
            assert exp["config"] == {"lr": 0.5, "epochs": 3}
            assert config == {"lr": 0.5}, f"the caller's dict was changed: {config}"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert archive.data(archive.run("train")) == {"config": {"lr": 0.5, "epochs": 3}}
