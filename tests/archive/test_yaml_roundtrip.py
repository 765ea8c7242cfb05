"""The writer never writes what it cannot read back: config.yaml round-trips for every value.

Every JSON-like value (any string, surrogates and controls included, huge ints,
nan and inf, nesting) written by yamltext reads back, through our bounded
reader and through yaml.safe_load, as itself or as its documented substitute
(yamltext.writable: a string with a lone surrogate as its repr, an int beyond
4,300 digits and a collection nested over 100 levels as a note).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_expharness.archive import yamltext

from conftest import Archive

ANY_CHARACTER = st.characters(exclude_categories=())  # surrogates (Cs) too
TEXT = st.text(ANY_CHARACTER) | st.sampled_from(
    ["\x7f", "a\x7fb", "\x85", "\x9f", "\u2028", "\ufeff", "\ufffe", "\ud800", "\udfff", "yes"]
)
BIG_INTS = st.tuples(st.integers(13_000, 17_000), st.integers(), st.booleans()).map(
    lambda t: (-1) ** t[2] * (2 ** t[0] + t[1])  # around 4,300 digits: the readers' limit
) | st.sampled_from([4299, 4300, 4301]).map(lambda digits: 10**digits - 1)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | BIG_INTS
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
LONG = "x" * 2000


def canon(value: Any) -> Any:
    """A form that compares equal only for equal values of equal types (nan equals nan)."""
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value)
    if isinstance(value, dict):
        return ("dict", [(canon(k), canon(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [canon(item) for item in value])
    return (type(value).__name__, value)


def reads_back(text: str, expected: Any) -> None:
    assert canon(yamltext.load(text)) == canon(expected)
    assert canon(yaml.safe_load(text)) == canon(expected)


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(JSON_LIKE)
@example("a\x7fb")
@example({LONG: [LONG, "\ud800" * 3]})
@example([[[[1]]]])
def test_dump_reads_back_as_the_value_or_its_substitute(value: Any) -> None:
    data = {"VALUE": value}
    reads_back(yamltext.dump(data), yamltext.writable(data))


@PROPERTY
@given(
    parameters=st.dictionaries(TEXT, JSON_LIKE, max_size=4),
    header=st.dictionaries(TEXT, JSON_LIKE, max_size=3),
    constant=st.dictionaries(st.sampled_from(["host", "command", "packages"]), JSON_LIKE),
)
@example(parameters={"NAME": "a\x7fb", LONG: 1}, header={}, constant={})
def test_config_text_reads_back_as_the_config_or_its_substitute(
    parameters: dict[str, Any], header: dict[str, Any], constant: dict[str, Any]
) -> None:
    keys = [k for k in header if k not in constant]
    before, after = keys[: len(keys) // 2], keys[len(keys) // 2 :]
    experiment = {
        **{k: header[k] for k in before},
        **constant,
        **{k: header[k] for k in after},
    }
    config = {"experiment": experiment, "parameters": parameters}
    notes: list[str] = []
    text = yamltext.config_text(config, constant, notes)
    reads_back(text, yamltext.writable(config))
    substituted = canon(yamltext.writable(config)) != canon(config)
    assert bool(notes) == substituted, notes


def test_values_yaml_cannot_hold_are_written_as_documented_substitutes() -> None:
    deep: list[Any] = [1]
    for _ in range(150):
        deep = [deep]
    config = {
        "experiment": {"name": "train"},
        "parameters": {"S": "a\ud800b", "BIG": 10**5000, "DEEP": deep, "OK": "a\x7fb"},
    }
    notes: list[str] = []
    loaded = yamltext.load(yamltext.config_text(config, {}, notes))["parameters"]
    assert loaded["S"] == repr("a\ud800b") == "'a\\ud800b'"
    assert loaded["BIG"] == "<int of about 5,000 digits>"
    assert loaded["OK"] == "a\x7fb"
    levels, inner, original = 0, loaded["DEEP"], deep
    while isinstance(inner, list):
        levels, inner, original = levels + 1, inner[0], original[0]
    assert levels == 98, "config.yaml and parameters hold the first two of 100 levels"
    assert inner == repr(original)
    assert [n.split(" holds")[0].split(" is an")[0].split(" nests")[0] for n in notes] == [
        "config.yaml: parameters.S",
        "config.yaml: parameters.BIG",
        "config.yaml: parameters.DEEP" + "[0]" * 98,
    ]
    assert notes[2].endswith("nests collections more than 100 levels deep; written as its repr")


def test_a_config_too_large_to_read_back_writes_its_largest_entries_as_notes() -> None:
    config = {
        "experiment": {"name": "train"},
        "parameters": {"DATA": list(range(1_000_000)), "SMALL": 3},
    }
    notes: list[str] = []
    text = yamltext.config_text(config, {}, notes)
    assert len(text) <= yamltext.CONFIG_CHARS
    loaded = yamltext.load(text)["parameters"]
    assert loaded["SMALL"] == 3
    assert loaded["DATA"].startswith("<") and "too large for config.yaml" in loaded["DATA"]
    assert len(notes) == 1 and "parameters.DATA takes" in notes[0]


RUN = """
    NAME: str = {constant}

    def test_train(exp):
        exp["name"] = exp.NAME
"""
SURROGATE_NOTE = "config.yaml: parameters.NAME holds a lone surrogate; written as its repr"


@pytest.mark.parametrize(
    ("constant", "args", "stored", "notes"),
    [
        pytest.param('"x"', ["--exp-set", 'NAME="a\\x7fb"'], "a\x7fb", [], id="DEL-from-set"),
        pytest.param(r'"\x85\u2028\ufeff\x9f"', [], "\x85\u2028\ufeff\x9f", [], id="C1-and-breaks"),
        pytest.param(r'"a\ud800b"', [], "'a\\ud800b'", [SURROGATE_NOTE], id="surrogate"),
    ],
)  # fmt: skip
def test_a_run_config_with_any_string_reads_back(
    pytester: pytest.Pytester,
    archive: Archive,
    constant: str,
    args: list[str],
    stored: str,
    notes: list[str],
) -> None:
    pytester.makepyfile(test_exp=RUN.format(constant=constant))
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:randomly", *args)
    result.assert_outcomes(passed=1)
    run = archive.run("train")
    config = archive.config(run)  # yaml.safe_load
    assert config == yamltext.load((run / "config.yaml").read_text())
    assert config["parameters"]["NAME"] == stored
    log = archive.log(run).splitlines()
    assert [line.split(" WARNING ")[1] for line in log if " WARNING " in line] == notes
