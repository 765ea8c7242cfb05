"""Command-line values read by the declared type (issue 12, point 13).

`--exp-set DECODER=no` for a str parameter was refused with "expected str, got
bool" and echoed `DECODER=False`: YAML 1.1 reads yes/no/on/off as booleans
before the declared type was known.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness.plan import params as P

from conftest import XDIST_MODES, Archive

EXPERIMENT = """
    from pathlib import Path
    from typing import Literal, Optional

    DECODER: str = "mlp"
    LATENT: str = "vq"
    SWITCH: Literal["on", "off"] = "off"
    LABEL: Optional[str] = "x"
    OUT: Path = Path("out")
    EPOCHS: int = 3

    def test_fit(exp):
        exp["seen"] = {
            "decoder": exp.DECODER, "latent": exp.LATENT, "switch": exp.SWITCH,
            "label": exp.LABEL, "out": str(exp.OUT), "epochs": exp.EPOCHS,
        }
"""


def _seen(archive: Archive) -> list[dict[str, typing.Any]]:
    return [archive.data(run)["seen"] for run in archive.runs()]


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_str_parameters_take_yaml_booleans_as_text(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_text=EXPERIMENT)
    result = pytester.runpytest(
        *mode,
        "-p",
        "no:randomly",
        "--exp-set",
        "DECODER=no",
        "--exp-set",
        "SWITCH=on",
        "--exp-set",
        "LABEL=yes",
        "--exp-set",
        "OUT=off",
        "--exp-sweep",
        "LATENT=none,on,off",
    )
    result.assert_outcomes(passed=3)
    seen = sorted(_seen(archive), key=lambda s: s["latent"])
    common = {"decoder": "no", "switch": "on", "label": "yes", "out": "off", "epochs": 3}
    assert seen == [{**common, "latent": latent} for latent in ("none", "off", "on")]
    config = archive.config(archive.runs()[0])
    assert config["experiment"]["cli_overrides"] == {
        "DECODER": "no",
        "SWITCH": "on",
        "LABEL": "yes",
        "OUT": "off",
    }


def test_quoted_text_is_unquoted_and_null_is_none_only_where_optional(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_text=EXPERIMENT)
    result = pytester.runpytest(
        "-p",
        "no:randomly",
        "--exp-set",
        'DECODER="a b"',
        "--exp-set",
        "LATENT='it''s'",
        "--exp-set",
        "LABEL=null",
        "--exp-set",
        "EPOCHS=7",
    )
    result.assert_outcomes(passed=1)
    (seen,) = _seen(archive)
    assert (seen["decoder"], seen["latent"], seen["label"], seen["epochs"]) == (
        "a b",
        "it's",
        None,
        7,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--exp-set", "EPOCHS=no"], "--exp-set EPOCHS=no: expected int, got bool", id="set"
        ),
        pytest.param(
            ["--exp-sweep", "EPOCHS=1,off"],
            "--exp-sweep EPOCHS=off: expected int, got bool",
            id="sweep",
        ),
        pytest.param(
            ["--exp-set", "SWITCH=yes"],
            "--exp-set SWITCH=yes: expected one of 'on', 'off', got 'yes'",
            id="literal",
        ),
        pytest.param(
            ["--exp-set", "EPOCHS=[1"],
            "--exp-set 'EPOCHS=[1': the value is not valid YAML",
            id="yaml",
        ),
    ],
)
def test_errors_echo_what_the_user_typed(
    pytester: pytest.Pytester, archive: Archive, args: list[str], message: str
) -> None:
    pytester.makepyfile(test_text=EXPERIMENT)
    result = pytester.runpytest("-p", "no:randomly", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert message in err, err
    assert "=False" not in err, err
    assert archive.runs() == []


def test_a_str_parameter_may_take_text_that_is_not_yaml(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_text=EXPERIMENT)
    result = pytester.runpytest(
        "-p", "no:randomly", "--exp-set", "DECODER=[1", "--exp-set", "LATENT=a: b # c"
    )
    result.assert_outcomes(passed=1)
    (seen,) = _seen(archive)
    assert (seen["decoder"], seen["latent"]) == ("[1", "a: b # c")


# -- properties: what the run receives is what check_given returns ------------------

NO_NEWLINE = st.text().filter(lambda t: "\n" not in t and len(t) <= 10_000)


def _received(item: str, declared: typing.Any) -> typing.Any:
    ((key, text),) = P.parse_set_items([item]).items()
    return P.check_given(key, text, declared)[1]


@given(NO_NEWLINE.filter(lambda t: t.strip()[:1] not in ("'", '"')))
def test_any_text_given_to_a_str_parameter_arrives_exactly(text: str) -> None:
    assert _received(f"NAME={text}", str) == text
    assert _received(f"NAME={text}", typing.Optional[str]) == (  # noqa: UP045
        None if text.strip() in ("null", "Null", "NULL", "~") else text
    )


@given(
    st.text(
        st.characters(
            max_codepoint=0xFFFF, blacklist_characters="\x7f", blacklist_categories=("Cs",)
        )
    )
)
def test_any_text_quoted_arrives_unquoted(text: str) -> None:
    assert _received("NAME=" + json.dumps(text), str) == text


PLAIN_ITEM = st.text(
    st.characters(blacklist_characters=",'\"[]{}\n", blacklist_categories=("Zs", "Cc", "Cs")),
    min_size=1,
).filter(lambda t: t == t.strip())


@given(st.lists(PLAIN_ITEM, min_size=1, max_size=8, unique=True))
def test_swept_texts_arrive_exactly(texts: list[str]) -> None:
    (values,) = P.parse_sweep_items(["NAME=" + ",".join(texts)]).values()
    assert [P.check_given("NAME", v, str)[1] for v in values] == texts


@given(
    st.lists(
        st.text(
            st.characters(
                max_codepoint=0xFFFF, blacklist_characters="\x7f", blacklist_categories=("Cs",)
            )
        ),
        min_size=1,
        max_size=6,
        unique=True,
    )
)
def test_swept_quoted_texts_with_commas_arrive_unquoted(texts: list[str]) -> None:
    (values,) = P.parse_sweep_items(["NAME=" + ", ".join(json.dumps(t) for t in texts)]).values()
    assert [P.check_given("NAME", v, str)[1] for v in values] == texts
    assert [P.check_given("NAME", v, Path)[1] for v in values] == [Path(t) for t in texts]


def test_a_sweep_repeats_a_value_only_as_its_declared_type_reads_it() -> None:
    P.check_sweep("LATENT", ["no", "false", "off"], str)  # three texts: three runs
    with pytest.raises(P.OverrideError, match=r"'LATENT=no,false': False is given more than once"):
        P.check_sweep("LATENT", ["no", "false"], bool)
