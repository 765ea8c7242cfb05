"""config.yaml written directly reads back exactly as the data it was written from."""

from __future__ import annotations

import math

import pytest
import yaml

from pytest_expharness.archive import yamltext

TRICKY_STRINGS = [
    "train",
    "yes",
    "No",
    "ON",
    "off",
    "null",
    "Null",
    "~",
    "y",
    "n",
    "true",
    "False",
    "",
    " lead",
    "trail ",
    "a: b",
    "a:b",
    "#x",
    "x #y",
    "- x",
    "[x]",
    "{x}",
    "*ref",
    "&anc",
    "!tag",
    "%x",
    "@x",
    "`x",
    "'q'",
    '"dq"',
    "1",
    "1.5",
    "1e3",
    "0x1F",
    "0o7",
    "12:30",
    "2026-11-23",
    ".inf",
    "-.inf",
    ".nan",
    "=",
    "<<",
    "?",
    "|",
    ">",
    "multi\nline",
    "tab\tx",
    "日本語",
    "emoji 🎲",
    "back\\slash",
    "test_exp.py::test_a[0-vq]",
    "latent=vq,beta=10",
    "2026-11-23T15:39:10.900+00:00",
    "C:\\data",
    "a,b",
    "path/to/file.py",
]
VALUES = [None, True, False, 0, -7, 10**20, 0.1, -2.5e-300, 1e300, float("inf"), float("-inf")]


@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_strings_round_trip(text: str) -> None:
    written = yamltext.entries({"KEY": text, text or "empty": 1})
    assert yaml.safe_load(written) == {"KEY": text, text or "empty": 1}


@pytest.mark.parametrize("value", VALUES)
def test_scalars_round_trip(value: object) -> None:
    loaded = yaml.safe_load(yamltext.entries({"VALUE": value}))["VALUE"]
    assert loaded == value and type(loaded) is type(value)


def test_nan_round_trips() -> None:
    assert math.isnan(yaml.safe_load(yamltext.entries({"X": float("nan")}))["X"])


def test_config_text_nests_header_and_parameters() -> None:
    provenance = {
        "git_commit": None,
        "packages": {"numpy": "2.4"},
        "command": ["pytest", "-k", "a b"],
    }
    config = {
        "experiment": {"name": "train", "run_id": "lr=0.1", **provenance, "tags": ["x", "y: z"]},
        "parameters": {"LAYERS": [8, 8], "KIND": "vq", "NESTED": {"a": [1, {"b": None}]}},
    }
    text = yamltext.config_text(config, provenance)
    assert yaml.safe_load(text) == config
    assert yamltext.config_text(config, provenance) == text, "the cached block is reused as is"
    empty = {"experiment": {"name": "train"}, "parameters": {}}
    assert yaml.safe_load(yamltext.config_text(empty, {})) == empty


def test_lists_and_mappings_of_tricky_strings_round_trip() -> None:
    data = {
        "LIST": TRICKY_STRINGS,
        "MAP": {text or "empty": text for text in TRICKY_STRINGS},
        "NUMBERS": [v for v in VALUES if v == v],
        "EMPTY_LIST": [],
        "EMPTY_MAP": {},
        "NESTED": [[1, "a,b"], {"k": [1]}],
    }
    assert yaml.safe_load(yamltext.entries(data)) == data
