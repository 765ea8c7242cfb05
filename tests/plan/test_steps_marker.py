"""experiment(steps="PARAM"): checked before any run starts (issue 16)."""

from __future__ import annotations

import pytest

from conftest import XDIST_MODES

STEPS = """
import pytest

EPOCHS = {value}

@pytest.mark.experiment(steps={steps!r})
@pytest.mark.parametrize("lr", [0.1])
def test_train(exp, lr):
    exp.track("loss", lr)
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
@pytest.mark.parametrize(
    ("steps", "value", "said"),
    [
        ("EPOCH", "3", "steps='EPOCH'): no such parameter (did you mean EPOCHS?)"),
        ("lr", "3", "lr is 0.1; steps= names a positive int parameter"),
        ("EPOCHS", "0", "EPOCHS is 0; steps= names a positive int parameter"),
        ("EPOCHS", "'ten'", "EPOCHS is 'ten'"),
    ],
)
def test_a_bad_steps_parameter_stops_the_session_before_any_run(
    pytester: pytest.Pytester, mode: list[str], steps: str, value: str, said: str
) -> None:
    pytester.makepyfile(test_steps=STEPS.format(steps=steps, value=value))
    result = pytester.runpytest_subprocess(*mode)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert said in result.stderr.str()
    assert not (pytester.path / "results").exists()


def test_steps_follows_an_override(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_steps=STEPS.format(steps="EPOCHS", value="3"))
    result = pytester.runpytest_subprocess("-p", "no:xdist", "--exp-set", "EPOCHS=-2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "EPOCHS is -2" in result.stderr.str()
    pytester.runpytest_subprocess("-p", "no:xdist", "--exp-set", "EPOCHS=5").assert_outcomes(
        passed=1
    )


def test_steps_must_be_a_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_steps=STEPS.format(steps="EPOCHS", value="3").replace("steps='EPOCHS'", "steps=3")
    )
    result = pytester.runpytest_subprocess("-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "experiment(steps=3): expected a string" in result.stderr.str()
