"""Module variants, PyComex style (issue 13, point 18).

A new module star-imports a base module's experiment and sets its own
constants. That run landed under the base's experiment name, its code/ lacked
the base module, its source hash ignored it, and the test body still read the
base's constants. Now the module is an experiment of its own, named after its
file, with its parent recorded, both modules copied and hashed.
"""

from __future__ import annotations

import pytest

from conftest import XDIST_MODES, Archive

NO_XDIST = ("-p", "no:xdist")

BASE = '''
    """Train at the base rate."""
    LEARNING_RATE: float = 0.1
    EPOCHS = 2

    def scaled():
        return LEARNING_RATE * EPOCHS

    def test_train(exp):
        exp["results/lr"] = LEARNING_RATE  # the module constant, as the body reads it
        exp["results/lr_param"] = exp.LEARNING_RATE
        exp["results/scaled"] = scaled()
'''
HIGH_LR = '''
    """The base experiment at a high rate."""
    from test_base import *

    LEARNING_RATE = 1
'''
LONG = """
    from test_high_lr import *

    EPOCHS = 5
"""


def _header(archive: Archive, name: str) -> dict[str, object]:
    return archive.config(archive.run(name))["experiment"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_module_variant_is_an_experiment_of_its_own(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_base=BASE, test_high_lr=HIGH_LR)
    # the variant first: the base's run after it in one process sees its own constants
    pytester.runpytest(*mode, "test_high_lr.py", "test_base.py").assert_outcomes(passed=2)
    assert sorted(p.parts[-3] for p in archive.runs()) == ["high_lr.train", "train"]

    base, variant = archive.run("train"), archive.run("high_lr.train")
    assert archive.data(base)["results"] == {"lr": 0.1, "lr_param": 0.1, "scaled": 0.2}
    assert archive.data(variant)["results"] == {"lr": 1.0, "lr_param": 1.0, "scaled": 2.0}
    assert archive.config(variant)["parameters"] == {"LEARNING_RATE": 1.0, "EPOCHS": 2}

    head = _header(archive, "high_lr.train")
    assert head["parent"] == "train"
    assert str(head["parent_module"]).endswith("test_base.py")
    assert head["module"] == str(pytester.path / "test_high_lr.py")
    assert head["test_class"] is None
    assert head["description"] == "The base experiment at a high rate."
    assert head["code"] == ["test_high_lr.py", "test_base.py"]
    for name in ("test_high_lr.py", "test_base.py"):
        assert (variant / "code" / name).read_bytes() == (pytester.path / name).read_bytes()

    own = _header(archive, "train")
    assert (own["parent"], own["parent_module"], own["code"]) == (None, None, ["test_base.py"])
    assert own["description"] == "Train at the base rate."
    assert "variant of train" in (variant / "REPORT.md").read_text()


def test_the_source_hash_covers_the_base_module(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_base=BASE, test_high_lr=HIGH_LR)

    seen: set[object] = set()

    def hashes() -> dict[str, str]:
        pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2)
        made = [run for run in archive.runs() if run not in seen]  # this session's
        seen.update(made)
        return {run.parts[-3]: archive.config(run)["experiment"]["source_hash"] for run in made}

    first = hashes()
    with open(pytester.path / "test_base.py", "a") as handle:
        handle.write("\n# the base changed\n")
    second = hashes()
    assert second["train"] != first["train"]
    assert second["high_lr.train"] != first["high_lr.train"], "the variant runs the base's code"
    with open(pytester.path / "test_high_lr.py", "a") as handle:
        handle.write("\n# the variant changed\n")
    third = hashes()
    assert third["train"] == second["train"], "the base does not depend on its variants"
    assert third["high_lr.train"] != second["high_lr.train"]

    result = pytester.runpytest(*NO_XDIST, "--exp-resume")
    result.assert_outcomes(skipped=2)  # both reused: nothing changed since


def test_overrides_and_declared_types_reach_a_module_variant(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_base=BASE, test_high_lr=HIGH_LR)
    # the variant sets LEARNING_RATE = 1 without an annotation: the base's `float` holds
    result = pytester.runpytest(*NO_XDIST, "--exp-set", "LEARNING_RATE=0.25")
    result.assert_outcomes(passed=2)
    for name in ("train", "high_lr.train"):
        assert archive.data(archive.run(name))["results"]["lr"] == 0.25, name
    result = pytester.runpytest(*NO_XDIST, "--exp-set", "LEARNING_RATE=fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*LEARNING_RATE*float*"])


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_variant_of_a_variant_names_its_own_parent(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_base=BASE, test_high_lr=HIGH_LR, test_long=LONG)
    pytester.runpytest(*mode).assert_outcomes(passed=3)
    long = archive.run("long.train")
    head = archive.config(long)["experiment"]
    assert head["parent"] == "high_lr.train"
    assert str(head["parent_module"]).endswith("test_high_lr.py")
    assert head["code"] == ["test_long.py", "test_base.py", "test_high_lr.py"]
    assert archive.config(long)["parameters"] == {"LEARNING_RATE": 1.0, "EPOCHS": 5}
    assert archive.data(long)["results"] == {"lr": 1.0, "lr_param": 1.0, "scaled": 5.0}


def test_a_variant_of_a_base_that_is_not_collected(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        base_experiment=BASE, test_fast=HIGH_LR.replace("test_base", "base_experiment")
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    head = _header(archive, "fast.train")
    assert (head["parent"], head["code"]) == ("train", ["test_fast.py", "base_experiment.py"])


def test_two_variant_modules_of_one_name_are_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_base=BASE)
    for folder in ("a", "b"):
        (pytester.path / folder).mkdir()
        (pytester.path / folder / "__init__.py").write_text("")
        (pytester.path / folder / "test_high_lr.py").write_text("from test_base import *\n")
    result = pytester.runpytest(*NO_XDIST)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'high_lr.train' is used by both*rename one of the modules*"])


def test_decorated_and_factory_made_tests_are_no_variants(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        helpers="""
        import functools

        def logged(test):
            @functools.wraps(test)
            def wrapper(*args, **kwargs):
                return test(*args, **kwargs)
            return wrapper

        def make_experiment(rate):
            def test_made(exp):
                exp["results/rate"] = rate
            return test_made
        """,
        test_own="""
        from helpers import logged, make_experiment

        RATE = 0.5

        @logged
        def test_wrapped(exp):
            exp["results/rate"] = RATE

        test_made = make_experiment(0.25)
        """,
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2)
    for name in ("wrapped", "made"):
        head = archive.config(archive.run(name))["experiment"]
        assert (head["parent"], head["code"]) == (None, ["test_own.py"]), name
