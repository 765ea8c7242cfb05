"""Parameters: UPPERCASE constants, parametrize arguments, overrides and their errors."""

from __future__ import annotations

import pytest

from conftest import XDIST_MODES, Archive

EXPERIMENT = """
    from pathlib import Path
    import pytest

    EPOCHS: int = 10
    LEARNING_RATE: float = 0.001
    MODE = "fast"
    LAYERS: list[int] = [8, 8]
    OUT: Path = Path("out")
    helper_value = 3          # lowercase: not a parameter

    def TRANSFORM(x):         # callables are code, not parameters
        return x

    @pytest.mark.parametrize("beta", [0, 10])
    def test_train(exp, beta):
        exp["seen/epochs"] = exp.EPOCHS
        exp["seen/module_epochs"] = EPOCHS
        exp["seen/lr"] = exp.LEARNING_RATE
        exp["seen/layers"] = exp.LAYERS
        exp["seen/out"] = exp.OUT
        exp["seen/beta"] = exp.beta
        exp["seen/names"] = sorted(exp.params)
"""


def test_parameters_are_constants_plus_axes(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest().assert_outcomes(passed=2)
    runs = archive.runs("train")
    assert [r.name for r in runs] == ["beta=0", "beta=10"]
    seen = archive.data(runs[1])["seen"]
    assert seen == {
        "epochs": 10,
        "module_epochs": 10,
        "lr": 0.001,
        "layers": [8, 8],
        "out": "out",
        "beta": 10,
        "names": ["EPOCHS", "LAYERS", "LEARNING_RATE", "MODE", "OUT", "beta"],
    }
    config = archive.config(runs[1])
    assert config["parameters"] == {
        "EPOCHS": 10,
        "LEARNING_RATE": 0.001,
        "MODE": "fast",
        "LAYERS": [8, 8],
        "OUT": "out",
        "beta": 10,
    }
    assert config["experiment"]["axes"] == ["beta"]


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_set_and_config_file_override(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.makefile(".yaml", overrides="EPOCHS: 3\nMODE: slow\n")
    result = pytester.runpytest(
        *mode,
        "--exp-config",
        "overrides.yaml",
        "--exp-set",
        "EPOCHS=5",
        "--exp-set",
        "LEARNING_RATE=1",
    )
    result.assert_outcomes(passed=2)
    for run in archive.runs("train"):
        seen = archive.data(run)["seen"]
        assert seen["epochs"] == 5, "--exp-set wins over the config file"
        assert seen["module_epochs"] == 5, "the module constant holds the run's value"
        assert seen["lr"] == 1.0 and isinstance(seen["lr"], float)
        header = archive.config(run)["experiment"]
        assert header["base_config"] == "overrides.yaml"
        assert header["cli_overrides"] == {"EPOCHS": 5, "MODE": "slow", "LEARNING_RATE": 1}
        assert archive.config(run)["parameters"]["MODE"] == "slow"


def test_module_constant_restored_after_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_exp="""
        EPOCHS = 10

        def test_a(exp):
            assert EPOCHS == 2

        def test_plain():
            assert EPOCHS == 10
        """
    )
    pytester.runpytest("--exp-set", "EPOCHS=2", "-p", "no:randomly").assert_outcomes(passed=2)


def test_attribute_typo_lists_known_names(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_exp="""
        EPOCHS = 10
        def test_a(exp):
            exp.EPOCS
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*AttributeError: exp has no parameter or attribute 'EPOCS'*EPOCHS*"]
    )


BAD_OVERRIDES = [
    pytest.param(
        ["--exp-set", "LEARNNG_RATE=0.1"],
        "--exp-set LEARNNG_RATE: not a parameter of the selected experiment"
        " (did you mean LEARNING_RATE?)",
        id="unknown-key",
    ),
    pytest.param(
        ["--exp-set", "EPOCHS"], "--exp-set 'EPOCHS': expected KEY=VALUE", id="malformed-no-equals"
    ),
    pytest.param(["--exp-set", "=3"], "--exp-set '=3': expected KEY=VALUE", id="malformed-no-key"),
    pytest.param(
        ["--exp-set", "EPOCHS=ten"],
        "--exp-set EPOCHS=ten: expected int, got str",
        id="wrong-type",
    ),
    pytest.param(
        ["--exp-set", "EPOCHS=1.5"],
        "--exp-set EPOCHS=1.5: expected int, got float",
        id="float-for-int",
    ),
    pytest.param(
        ["--exp-set", "LAYERS=[1, x]"],
        "--exp-set LAYERS=[1, x]: expected list[int], got a list with an item of another type",
        id="bad-list",
    ),
    pytest.param(
        ["--exp-set", "EPOCHS=[1"],
        "--exp-set 'EPOCHS=[1': the value is not valid YAML",
        id="bad-yaml",
    ),
    pytest.param(
        ["--exp-config", "missing.yaml"],
        "--exp-config missing.yaml: cannot read it (No such file or directory)",
        id="missing-config",
    ),
    pytest.param(
        ["--exp-config", "broken.yaml"], "--exp-config broken.yaml: not valid YAML", id="bad-config"
    ),
    pytest.param(
        ["--exp-config", "list.yaml"],
        "--exp-config list.yaml: expected a mapping of PARAMETER: value",
        id="config-not-mapping",
    ),
    pytest.param(
        ["--exp-config", "typo.yaml"],
        "--exp-config EPOCH: not a parameter of the selected experiment (did you mean EPOCHS?)",
        id="config-unknown-key",
    ),
    pytest.param(
        ["--exp-set", "beta=3"],
        "--exp-set 'beta=3': 'beta' is not a parameter name",
        id="lowercase",
    ),
    pytest.param(
        ["--exp-set", "BETA=3", "-k", "nothing_matches"],
        "--exp-set BETA: not a parameter of any selected experiment",
        id="nothing-selected",
    ),
]


@pytest.mark.parametrize("mode", XDIST_MODES)
@pytest.mark.parametrize(("args", "message"), BAD_OVERRIDES)
def test_bad_override_is_a_usage_error_and_creates_nothing(
    pytester: pytest.Pytester, mode: list[str], args: list[str], message: str
) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.makefile(".yaml", broken="EPOCHS: [1\n", typo="EPOCH: 3\n")
    pytester.makefile(".yaml", list="- 1\n- 2\n")
    result = pytester.runpytest(*mode, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stderr.str()
    assert not (pytester.path / "results").exists()


def test_override_of_a_sweep_axis_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest
        BETA = 1
        @pytest.mark.parametrize("BETA", [1, 2])
        def test_a(exp, BETA):
            pass
        """
    )
    result = pytester.runpytest("--exp-set", "BETA=3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*BETA is a parametrize axis of test_exp.py::test_a*"])


def test_override_applies_only_where_declared(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_one="""
        EPOCHS = 1
        def test_one(exp):
            exp["epochs"] = exp.EPOCHS
        """,
        test_two="""
        WIDTH = 4
        def test_two(exp):
            exp["width"] = exp.WIDTH
        """,
    )
    pytester.runpytest("--exp-set", "EPOCHS=7").assert_outcomes(passed=2)
    assert archive.data(archive.run("one")) == {"epochs": 7}
    assert archive.data(archive.run("two")) == {"width": 4}
    assert archive.config(archive.run("two"))["experiment"]["cli_overrides"] == {}


def test_annotated_types_checked(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        from typing import Literal, Optional
        KIND: Literal["vq", "linear"] = "vq"
        LIMIT: Optional[int] = None
        SCALE: float = 1.0
        def test_a(exp):
            exp["v"] = [exp.KIND, exp.LIMIT, exp.SCALE]
        """
    )
    result = pytester.runpytest("--exp-set", "KIND=none")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--exp-set KIND=none: expected one of 'vq', 'linear', got 'none'" in result.stderr.str()
    result = pytester.runpytest(
        "--exp-set", "KIND=linear", "--exp-set", "LIMIT=3", "--exp-set", "SCALE=2"
    )
    result.assert_outcomes(passed=1)
    assert archive.data(archive.run())["v"] == ["linear", 3, 2.0]


def test_testing_overrides(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest
        EPOCHS = 100
        @pytest.mark.experiment(testing={"EPOCHS": 2})
        def test_a(exp):
            exp["epochs"] = EPOCHS
            exp["testing"] = exp.testing
        """
    )
    pytester.runpytest("--exp-testing").assert_outcomes(passed=1)
    run = archive.run()
    assert run.relative_to(archive.root).parts[0] == "_testing"
    assert archive.data(run) == {"epochs": 2, "testing": True}
    assert archive.config(run)["experiment"]["testing"] is True
    pytester.runpytest().assert_outcomes(passed=1)
    real = [r for r in archive.runs() if "_testing" not in r.parts]
    assert [archive.data(r) for r in real] == [{"epochs": 100, "testing": False}]


def test_bad_testing_override_names_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest
        EPOCHS = 100
        @pytest.mark.experiment(testing={"EPOCH": 2})
        def test_a(exp):
            pass
        """
    )
    result = pytester.runpytest("--exp-testing")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*test_exp.py::test_a: testing override 'EPOCH' is not a parameter (did you mean EPOCHS?)"]
    )


def test_unknown_marker_argument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest
        @pytest.mark.experiment(tag=["x"])
        def test_a(exp):
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown argument 'tag' (did you mean tags?)*"])
    assert not (pytester.path / "results").exists()


def test_exponent_floats_are_numbers_quoted_ones_strings(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        LEARNING_RATE: float = 0.1
        DECAY: float = 0.0
        TAG: str = "x"
        def test_a(exp):
            exp["v"] = [exp.LEARNING_RATE, exp.DECAY, exp.TAG]
        """
    )
    pytester.makefile(".yaml", overrides="DECAY: 5e-4\n")
    result = pytester.runpytest(
        "--exp-set",
        "LEARNING_RATE=1e-3",
        "--exp-set",
        'TAG="1e-3"',
        "--exp-config",
        "overrides.yaml",
    )
    result.assert_outcomes(passed=1)
    assert archive.data(archive.run()) == {"v": [0.001, 0.0005, "1e-3"]}


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_two_functions_cannot_share_an_experiment_name(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(
        test_a="def test_train(exp):\n    pass\n", test_b="def test_train(exp):\n    pass\n"
    )
    result = pytester.runpytest(*mode)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "experiment name 'train' is used by both test_a.py::test_train and test_b.py::test_train"
        in result.stderr.str()
    )
    assert not (pytester.path / "results").exists()
    pytester.runpytest(*mode, "test_a.py").assert_outcomes(passed=1)
