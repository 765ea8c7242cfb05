"""Run ids and folder names (issue 13, point 12).

`Ünïcödé-数据` became `dataset=_n_c_d_-`, `.`, `""` and `_` gave one id, and an
explicit `pytest.param(..., id="small")` was ignored. Now letters and digits of
any script are kept and only what some common file system (or a shell) cannot
take is replaced; `.`, `..`, `""`, `_` and None give distinct readable ids; an id
written in the test is the run id.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness.archive import layout as archive

from conftest import XDIST_MODES, Archive

WINDOWS_FORBIDDEN = set('<>:"/\\|?*')
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{d}{n}" for d in ("COM", "LPT") for n in "0123456789"
}


def assert_one_safe_component(name: str, max_bytes: int = 255) -> None:
    """What Linux, macOS and Windows all accept as one folder name, checked independently."""
    assert name and name not in (".", "..")
    assert not name.startswith("."), "a hidden folder: archive listings skip it"
    assert not name.endswith((".", " ")), "Windows drops a trailing dot or space"
    assert not set(name) & WINDOWS_FORBIDDEN
    assert all(ord(c) >= 32 and unicodedata.category(c) not in ("Cc", "Cf", "Cs") for c in name)
    assert name.split(".")[0].upper() not in WINDOWS_DEVICES
    assert len(name.encode("utf-8")) <= max_bytes, "names are limited in bytes, not characters"
    assert unicodedata.is_normalized("NFC", name), "one name, one spelling"


# -- ids of values ---------------------------------------------------------------------


def test_letters_and_digits_of_every_script_are_kept() -> None:
    assert archive.run_id_for({"dataset": "Ünïcödé-数据"}) == "dataset=Ünïcödé-数据"
    assert archive.run_id_for({"lang": "हिन्दी", "n": "٣"}) == "lang=हिन्दी,n=٣", "marks and digits"
    assert archive.run_id_for({"city": "Zürich", "lr": 1e-3}) == "city=Zürich,lr=0.001"
    assert archive.run_id_for({"path": "a/b c", "lr": 1e-3}) == "path=a_b_c,lr=0.001"


def test_one_name_has_one_id_whatever_its_unicode_form() -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert archive.run_id_for({"x": decomposed}) == archive.run_id_for({"x": composed})
    assert archive.safe_name(decomposed) == composed


def test_dots_empty_underscore_and_none_give_distinct_readable_ids() -> None:
    ids = {value: archive.run_id_for({"dataset": value}) for value in (".", "..", "", "_", None)}
    assert ids == {
        ".": "dataset=._",  # a trailing dot is dropped by Windows: it gets a `_` after it
        "..": "dataset=.._",
        "": "dataset=",
        "_": "dataset=_",
        None: "dataset=None",
    }
    for name in ids.values():
        assert_one_safe_component(name)


def test_whole_names_that_a_file_system_reads_specially() -> None:
    assert archive.safe_name(".") == "_._"
    assert archive.safe_name("..") == "_.._"
    assert archive.safe_name("") == "_"
    assert archive.safe_name(".hidden") == "_.hidden"
    assert archive.safe_name("CON") == "CON_"
    assert archive.safe_name("nul.txt") == "nul_.txt"
    assert archive.safe_name("com1") == "com1_"
    assert archive.safe_name("CONSOLE") == "CONSOLE", "only the device names themselves"
    assert archive.safe_name("a\x00b\tc\u202ed") == "a_b_c_d", "controls and bidi overrides"
    assert archive.safe_name('x<>:"|?*y') == "x_y"
    assert archive.safe_name("back\\slash") == "back_slash"
    assert archive.safe_name("trailing. ") == "trailing._"
    assert archive.safe_name("❤️ love") == "_love", "an emoji and its variation selector"


def test_long_ids_are_bounded_in_bytes_and_stay_distinct() -> None:
    for letter in ("x", "é", "数", "\U00020000"):  # 1, 2, 3 and 4 bytes in UTF-8
        long = archive.run_id_for({"name": letter * 300})
        assert len(long) <= archive.MAX_ID
        assert len(long.encode()) <= archive.MAX_ID_BYTES
        assert_one_safe_component(long)
        assert long.startswith("name=" + letter)
        assert archive.run_id_for({"name": letter * 299 + "y"}) != long
    marks = archive.run_id_for({"w": "हि" * 200})
    assert unicodedata.category(marks.split("-")[0][-1]) == "Mc", "no letter loses its mark"
    assert len(archive.safe_name("数" * 200).encode()) <= archive.MAX_NAME_BYTES


def test_an_id_stays_the_same_for_text_that_was_always_safe() -> None:
    # the ids of earlier sessions, for ASCII values, are kept (resume and names match)
    assert archive.run_id_for({"latent": "vq", "beta": 10}) == "latent=vq,beta=10"
    long = archive.run_id_for({"name": "x" * 300})
    assert long == "name=" + "x" * 66 + "-" + long[-8:] and len(long) == archive.MAX_ID


# -- properties --------------------------------------------------------------------------

simple = st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())
axis_names = st.text(st.characters(categories=["Lu", "Ll"]), min_size=1, max_size=8)


@given(st.dictionaries(axis_names, simple, max_size=4), st.text() | st.none())
def test_a_run_id_is_always_one_safe_component(axes: dict[str, object], fallback: str) -> None:
    name = archive.run_id_for(axes, fallback)
    assert_one_safe_component(name, archive.MAX_ID_BYTES)
    assert len(name) <= archive.MAX_ID
    assert archive.is_safe_name(name)


@given(st.text())
def test_safe_name_is_safe_and_idempotent(text: str) -> None:
    name = archive.safe_name(text)
    assert_one_safe_component(name, archive.MAX_NAME_BYTES)
    assert archive.is_safe_name(name)
    assert archive.safe_name(name) == name


safe_text = st.text(
    st.characters(categories=["L", "M", "N"], exclude_characters="\u034f\u115f\u1160\u3164\uffa0")
    | st.sampled_from("._=+,-"),
    min_size=1,
    max_size=40,
).filter(archive.is_safe_name)


@given(safe_text)
def test_safe_text_is_left_as_it_is(text: str) -> None:
    assert archive.safe_name(text) == text


@given(safe_text, safe_text)
def test_different_safe_values_give_different_ids(a: str, b: str) -> None:
    assert (archive.run_id_for({"x": a}) == archive.run_id_for({"x": b})) == (a == b)


@given(st.lists(st.text(), min_size=1, max_size=5, unique=True))
def test_every_name_can_be_made_on_disk(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str]
) -> None:
    folder = tmp_path_factory.mktemp("names")
    for text in texts:
        path, _ = archive.make_run_dir(folder, archive.safe_name(text))
        assert path.parent == folder and path.is_dir()


def test_values_of_one_axis_give_distinct_ids() -> None:
    values = ["Ünïcödé-数据", ".", "..", "", "_", None, "CON", "a b", "ab", "1.0", 2, True]
    ids = [archive.run_id_for({"d": v}) for v in values]
    assert len(set(ids)) == len(ids)
    assert archive.run_id_for({"d": "2"}) == archive.run_id_for({"d": 2}) == "d=2", (
        "a value's text is its id: a str and an int may share it (make_run_dir adds a suffix)"
    )


# -- explicit ids, in a session ----------------------------------------------------------

GRID = """
    import pytest

    @pytest.mark.parametrize("dataset", ["Ünïcödé-数据", ".", "..", "", "_", None])
    def test_data(exp, dataset):
        exp["results/seen"] = repr(dataset)

    @pytest.mark.parametrize(
        "size", [pytest.param(10, id="small"), pytest.param(1000, id="große"), 5000]
    )
    @pytest.mark.parametrize("lr", [0.1, 0.01], ids=["fast", None])
    def test_fit(exp, size, lr):
        pass

    @pytest.mark.parametrize("layers,width", [pytest.param([8, 8], 4, id="deep"), ([16], 2)])
    def test_net(exp, layers, width):
        pass

    @pytest.mark.parametrize("n", [1, 2], ids=lambda n: f"n{n}")  # a callable's ids are generated
    def test_called(exp, n):
        pass

    @pytest.mark.parametrize("k", [pytest.param(1, id="one"), pytest.param(1, id="uno")])
    def test_same_value(exp, k):
        pass
"""


def _run_ids(archive_: Archive, experiment: str) -> list[str]:
    return sorted(run.name for run in archive_.runs(experiment))


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_session_folders_keep_unicode_and_written_ids(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_grid=GRID)
    pytester.runpytest(*mode).assert_outcomes(passed=6 + 6 + 2 + 2 + 2)
    assert _run_ids(archive, "data") == sorted(
        [
            "dataset=Ünïcödé-数据",
            "dataset=._",
            "dataset=.._",
            "dataset=",
            "dataset=_",
            "dataset=None",
        ]
    )
    for run in archive.runs("data"):
        assert archive.summary(run)["run_id"] == run.name
        assert archive.config(run)["experiment"]["run_id"] == run.name
    assert _run_ids(archive, "fit") == sorted(
        [
            "small,fast",
            "small,lr=0.01",
            "große,fast",
            "große,lr=0.01",
            "size=5000,fast",
            "size=5000,lr=0.01",
        ]
    )
    # one written id stands for both values of its parameter set, objects or not
    assert _run_ids(archive, "net") == sorted(["deep", "layers1-2"])
    assert _run_ids(archive, "called") == ["n=1", "n=2"]
    assert _run_ids(archive, "same_value") == ["one", "uno"], "the test id tells equal values apart"


def test_a_point_that_fails_before_its_run_is_named_as_its_run_would_be(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("no data")

        @pytest.mark.parametrize("size", [pytest.param(10, id="small")])
        def test_fit(exp, broken, size):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(errors=1)
    table = next(archive.root.glob("fit/*/comparison.csv")).read_text()
    assert "small" in table and "size=10" not in table
