"""exp.apply_hook: one log line per hook, not one a call; an undeclared hook without a default."""

from __future__ import annotations

import re
import types

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest

from pytest_expharness import hook
from pytest_expharness.plan.variants import HookNotFound, declared_hooks

from conftest import XDIST_MODES, Archive

NO_XDIST = ("-p", "no:xdist")
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"

EPOCHS = """
    from pytest_expharness import hook

    EPOCHS = 30

    class TestTrain:
        @hook("after_epoch")
        def note(self, exp, epoch):
            return epoch * 2

        def test_fit(self, exp):
            got = [exp.apply_hook("after_epoch", epoch=e) for e in range(exp.EPOCHS)]
            assert got == [2 * e for e in range(30)]
            exp.log("trained")
"""


def hook_lines(log: str) -> list[tuple[str, str]]:
    return re.findall(rf"^{STAMP} ([A-Z]+) (hook .*)$", log, re.M)


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_hook_called_every_epoch_is_logged_once(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_train=EPOCHS)
    pytester.runpytest(*mode).assert_outcomes(passed=1)
    log = archive.log(archive.run())
    assert hook_lines(log) == [("INFO", "hook after_epoch: TestTrain.note")]
    assert "DEBUG" not in log
    assert archive.summary(archive.run())["log"] == {"warnings": 0, "errors": 0}


@pytest.mark.parametrize(
    "option",
    [["--log-level=DEBUG"], ["-o", "log_level=debug"], ["--log-cli-level=DEBUG"]],
    ids=["log-level", "log_level-ini", "log-cli-level"],
)
def test_later_calls_are_debug_lines_when_the_session_asks_for_debug(
    pytester: pytest.Pytester, archive: Archive, option: list[str]
) -> None:
    pytester.makepyfile(test_train=EPOCHS)
    pytester.runpytest(*NO_XDIST, *option).assert_outcomes(passed=1)
    lines = hook_lines(archive.log(archive.run()))
    assert lines[0] == ("INFO", "hook after_epoch: TestTrain.note")
    assert lines[1:] == [
        ("DEBUG", f"hook after_epoch: TestTrain.note (call {n})") for n in range(2, 31)
    ]


def test_each_hook_has_its_own_first_call(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_two="""
        from pytest_expharness import hook

        @hook("load")
        def load(exp):
            return "data"

        @hook("score")
        def score(exp, x):
            return x + 1

        def test_two(exp):
            for i in range(5):
                assert exp.apply_hook("load") == "data"
                assert exp.apply_hook("score", x=i) == i + 1
        """
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    assert hook_lines(archive.log(archive.run())) == [
        ("INFO", "hook load: test_two.load"),
        ("INFO", "hook score: test_two.score"),
    ]


UNDECLARED = """
    import pytest
    from pytest_expharness import hook
    from pytest_expharness.plan.variants import HookNotFound

    @hook("basis")
    def basis(exp, z):
        return z

    class TestBase:
        @hook("preprocess")
        def standardise(self, exp, x):
            return x

        def test_fit(self, exp):
            assert exp.apply_hook("postprocess", default=None, x=1) is None
            assert exp.apply_hook("postprocess", default="raw", x=1) == "raw"
            with pytest.raises(HookNotFound) as raised:
                exp.apply_hook("postprocess", x=1)
            exp["results/message"] = str(raised.value)
            with pytest.raises(LookupError):  # what it is, for a caller that catches that
                exp.apply_hook("preprocesss", x=1)

    class TestChild(TestBase):
        @hook("preprocess")
        def log_first(self, exp, x):
            return x
"""


def test_an_undeclared_hook_without_a_default_raises_naming_the_declared_ones(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_fit=UNDECLARED)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2)
    base = archive.data(archive.run("Base.fit"))["results"]["message"]
    assert base == (
        "exp.apply_hook('postprocess'): no hook 'postprocess' in TestBase, its base classes or "
        "their modules; declared hooks: basis (test_fit.basis), preprocess "
        "(TestBase.standardise). Declare one with @hook('postprocess'), or pass default=... "
        "to make it optional"
    )
    child = archive.data(archive.run("Child.fit"))["results"]["message"]
    assert "declared hooks: basis (test_fit.basis), preprocess (TestChild.log_first)." in child
    log = archive.log(archive.run("Child.fit"))
    assert "hook postprocess" not in log, "no hook ran: nothing logged"


def test_a_module_test_without_hooks_says_there_are_none(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_plain="""
        def test_plain(exp):
            exp.apply_hook("process", data=1)
        """
    )
    result = pytester.runpytest(*NO_XDIST)
    result.assert_outcomes(failed=1)
    error = archive.summary(archive.run())["error"]
    assert error["type"] == "HookNotFound"
    assert "no hook 'process' in module test_plain; declared hooks: none." in error["message"]


def test_hooks_of_a_base_module_are_declared_for_a_variant_in_another(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        base_exp="""
        from pytest_expharness import hook

        @hook("basis")
        def polynomial(exp, z):
            return [1, z, z * z]

        class BaseFit:
            def test_fit(self, exp):
                exp["results/basis"] = exp.apply_hook("basis", z=2)
                try:
                    exp.apply_hook("missing")
                except LookupError as error:
                    exp["results/message"] = str(error)
        """,
        test_variant="""
        import base_exp

        class TestWide(base_exp.BaseFit):
            WIDTH = 2
        """,
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    results = archive.data(archive.run())["results"]
    assert results["basis"] == [1, 2, 4]
    assert "declared hooks: basis (base_exp.polynomial)" in results["message"]


class _Base:
    @hook("fit")
    def fit(self, exp: object) -> None: ...

    @staticmethod
    @hook("score")
    def score(exp: object) -> None: ...


class _Child(_Base):
    def fit(self, exp: object) -> None: ...  # a plain override of the hook method wins


def test_declared_hooks_lists_what_apply_hook_would_call() -> None:
    module = types.ModuleType("mod")

    @hook("load")
    def load(exp: object) -> None: ...

    module.load = load  # type: ignore[attr-defined]
    module.helper = lambda exp: None  # type: ignore[attr-defined]  # no hook: not listed
    assert declared_hooks(_Child, module) == {
        "fit": "_Child.fit",
        "load": "mod.load",
        "score": "_Base.score",
    }
    assert declared_hooks(None, module) == {"load": "mod.load"}
    assert declared_hooks(None, None) == {}
    assert issubclass(HookNotFound, LookupError)
