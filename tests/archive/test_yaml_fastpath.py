"""The fast reader of config.yaml (safeyaml.read_ours) reads and refuses what the loader does.

For every text, config_text's output or a hostile one, either read_ours
declines (and the bounded loader decides) or it returns exactly what the
bounded loader returns; so `load_bounded` answers the same with and without
it, value for value and error for error. A config.yaml written by a real run
is read by the fast path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_expharness.archive import safeyaml, yamltext

ANY_CHARACTER = st.characters(exclude_categories=())  # surrogates (Cs) too
TEXT = st.text(ANY_CHARACTER, max_size=12) | st.sampled_from(
    ["\x7f", "\x85", "\u2028", "\ufeff", "\ud800", "yes", "Y", "n", "null", "a,b", "1e5", "-"]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([3999, 4000, 4299, 4300, 4301]).map(lambda digits: 1 - 10**digits)
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
WORD = st.from_regex(r"[A-Za-z_][A-Za-z0-9_./+=,\-]{0,10}", fullmatch=True)
SIMPLE = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | WORD
    | st.text(st.characters(min_codepoint=32, max_codepoint=0x7E), max_size=12)
)
FLAT = st.dictionaries(WORD, SIMPLE | st.lists(SIMPLE, max_size=3), max_size=8)
KEYS = ["a", "b", "LR", '"a"', '"b c"', "y", "Yes", "true", "~", "<<", "&x a", "*x", "- a", "? a"]
VALUES = [
    "1", "-0", "01", "0x1", "1e5", "1.0e+5", "1.5", "1.", ".5", ".nan", ".inf", "-.inf", "+1",
    "yes", "No", "null", "Null", "~", "word", "a,b", "a b", "a #c", "2001-01-01", "1_000", "1:20",
    "'x'", '"x"', '"\\ud800"', '"\\/"', '"\\x41"', '"a\tb"', "|", ">", "!!str 1", "&a 1", "*a",
    "[a, b]", "[a,b]", "[a, [1]]", "{a: 1, a: 2}", "{a: 1}", "{y: 1}", "[]", "{}", "", "=",
    "[a, b] c", '"' + "k" * 1200 + '"',
]  # fmt: skip
INDENTS = ["", "", "  ", "  ", "   ", "\t", " "]
LINE = st.builds(
    lambda indent, key, value, colon: f"{indent}{key}{colon}{value}",
    st.sampled_from(INDENTS),
    st.sampled_from(KEYS),
    st.sampled_from(VALUES),
    st.sampled_from([": ", ":", ": ", ":  "]),
)
HOSTILE = st.builds(
    lambda lines, sep, end: sep.join(lines) + end,
    st.lists(
        LINE | st.sampled_from(["", "---", "...", "# c", "%YAML 1.1"]), min_size=1, max_size=10
    ),
    st.sampled_from(["\n", "\n", "\r\n", "\u2028"]),
    st.sampled_from(["\n", "", "\n\n"]),
)


def canon(value: Any) -> Any:
    """A form equal only for equal values of equal types (nan equals nan, -0.0 is not 0.0)."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, dict):
        return ("dict", [(canon(k), canon(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [canon(item) for item in value])
    return (type(value).__name__, value)


@contextmanager
def bounded_loader_only() -> Iterator[None]:
    with mock.patch.object(safeyaml, "read_ours", lambda text: safeyaml.NOT_OURS):
        yield


def outcome(text: str) -> tuple[Any, ...]:
    try:
        return ("read", canon(yamltext.load(text, "config.yaml")))
    except yamltext.YamlError as error:
        return ("refused", str(error), error.problem, error.invalid)


def same_as_bounded_loader(text: str) -> Any:
    """Assert the fast reader agrees with the bounded loader on text; return what it read."""
    fast = safeyaml.read_ours(text)
    with bounded_loader_only():
        slow = outcome(text)
    if fast is not safeyaml.NOT_OURS:
        assert slow == ("read", canon(fast))
    assert outcome(text) == slow
    return fast


def config(header: dict[str, Any], params: dict[str, Any]) -> str:
    return yamltext.config_text({"experiment": header, "parameters": params}, {})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(TEXT, JSON_LIKE, max_size=5), st.dictionaries(TEXT, JSON_LIKE, max_size=5))
@example({"y": 1, "a": "\u2028"}, {"k" * 999: 1, "x" * 1001: [1, {"a": 2}]})
def test_every_config_text_reads_alike(header: dict[str, Any], params: dict[str, Any]) -> None:
    same_as_bounded_loader(config(header, params))


@settings(max_examples=300, deadline=None)
@given(FLAT, FLAT)
def test_a_config_of_plain_values_takes_the_fast_path(
    header: dict[str, Any], params: dict[str, Any]
) -> None:
    text = config({"name": "fit", **header}, params)
    fast = same_as_bounded_loader(text)
    assert fast is not safeyaml.NOT_OURS, text


@settings(max_examples=600, deadline=None)
@given(HOSTILE)
@example("a: 1\na: 2\n")
@example("a:\n  b: 1\n  b: 2\n")
@example("a: {k: 1, k: 2}\n")
@example("a:\nb: 1\n")
@example("a: 1\n  b: 2\n")
@example("a: " + "9" * 4301 + "\n")
@example("a: [" + ", ".join(["x"] * 50) + "]\n")
def test_hostile_texts_are_read_and_refused_alike(text: str) -> None:
    same_as_bounded_loader(text)


@settings(max_examples=200, deadline=None)
@given(FLAT, st.integers(0, 10_000), st.sampled_from([" ", "\t", "#", "&", "*", ":", "-", '"']))
def test_a_config_text_with_a_character_slipped_in_reads_alike(
    params: dict[str, Any], where: int, slipped: str
) -> None:
    text = config({"name": "fit"}, params)
    where %= len(text) + 1
    same_as_bounded_loader(text[:where] + slipped + text[where:])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: 1\na: 2\n", "key 'a' is given twice"),
        ("a:\n  b: [x, y]\n  b: 2\n", "key 'b' is given twice"),
        ("a: " + "9" * 4301 + "\n", "an integer of more than 4,300 digits"),
    ],
)
def test_what_the_loader_refuses_the_fast_path_leaves_to_it(text: str, problem: str) -> None:
    assert safeyaml.read_ours(text) is safeyaml.NOT_OURS
    with pytest.raises(yamltext.YamlError) as refused:
        yamltext.load(text, "config.yaml")
    assert problem in refused.value.problem


def test_lists_read_from_the_same_line_are_each_their_own() -> None:
    text = "experiment:\n  tags: [a, b]\n  packages: {x: 1}\nparameters: {}\n"
    first, second = yamltext.load(text), yamltext.load(text)
    first["experiment"]["tags"].append("c")
    first["experiment"]["packages"]["y"] = 2
    assert second == {"experiment": {"tags": ["a", "b"], "packages": {"x": 1}}, "parameters": {}}
    assert yamltext.load(text) == second


def test_a_real_runs_config_yaml_takes_the_fast_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fit="""
        import pytest
        LR = 0.01
        NAME = "a b: c"

        @pytest.mark.experiment(metric="loss")
        @pytest.mark.parametrize("latent", ["vq", "yes", "1e5"])
        def test_fit(exp, latent):
            exp.track("loss", 0.5)
        """
    )
    pytester.runpytest("-p", "no:randomly", "--exp-tag", "ablation").assert_outcomes(passed=3)
    configs = sorted(pytester.path.glob("results/fit/*/*/config.yaml"))
    assert len(configs) == 3
    for path in configs:
        text = path.read_text("utf-8")
        fast = same_as_bounded_loader(text)
        assert fast is not safeyaml.NOT_OURS, text
        assert fast["experiment"]["tags"] == ["ablation"]
        assert fast["parameters"]["NAME"] == "a b: c"
        assert not math.isnan(fast["parameters"]["LR"])
