"""Nothing an archive carries runs by itself; imports refuse tar bombs (issue 11, 8 and 9)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness.cli import main as cli

from conftest import XDIST_MODES, Archive

SWEEP = """
    import pytest
    from pytest_expharness import sweep_analysis

    @pytest.mark.experiment(metric="loss")
    @pytest.mark.parametrize("x", [1, 2])
    def test_fit(exp, x):
        exp.track("loss", x / 10)

    @sweep_analysis
    def pick(sweep):
        sweep.recommend(f"use x={sweep.best.params['x']} ({len(sweep.runs)} runs)")
"""
EVIL = """
import pathlib
pathlib.Path({marker!r}).write_text("the archive's code ran")
from pytest_expharness import sweep_analysis, analysis

@sweep_analysis
def pick(sweep):
    sweep.recommend("from the archive")

@analysis
def again(run):
    run.commit_json("evil.json", {{"ran": True}})
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> bool:
    return err.startswith("expharness: ") and len(err.strip().splitlines()) == 1


def header(run_folder: Path) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load((run_folder / "config.yaml").read_text())
    return dict(found["experiment"])


def rewrite_header(run_folder: Path, **change: object) -> None:
    path = run_folder / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["experiment"].update(change)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture
def booby_trapped(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, Path]:
    """A colleague's export of the SWEEP session whose records point at a file it carries.

    Each run's config.yaml names, as its module, a code/evil.py that lands where the
    import will put it; importing that file writes the marker. Returns (export, marker).
    """
    pytester.makepyfile(test_exp=SWEEP)
    made = pytester.path / "made"
    pytester.runpytest("-p", "no:xdist", "--exp-root", str(made)).assert_outcomes(passed=2)
    marker = pytester.path / "MARKER"
    runs = Archive(made).runs()
    for folder in runs:
        (folder / "code" / "evil.py").write_text(EVIL.format(marker=str(marker)))
        landing = pytester.path / "results" / folder.relative_to(made) / "code" / "evil.py"
        rewrite_header(folder, module=str(landing), test_class=None, code=["evil.py"])
    packed = pytester.path / "colleague.tar.gz"
    stamp = runs[0].parent.name
    code, _, err = run(
        capsys, "--root", str(made), "export", "--session", stamp, "--to", str(packed)
    )
    assert code == 0, err
    shutil.rmtree(made)
    return packed, marker


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_code_an_imported_archive_carries_never_runs_on_resume(
    pytester: pytest.Pytester,
    archive: Archive,
    capsys: pytest.CaptureFixture[str],
    booby_trapped: tuple[Path, Path],
    mode: list[str],
) -> None:
    packed, marker = booby_trapped
    code, _, err = run(capsys, "--root", str(archive.root), "import", str(packed))
    assert code == 0, err
    imported = archive.runs()
    assert len(imported) == 2
    for folder in imported:
        mark = header(folder)["imported_from"]
        assert mark["archive"] == "colleague.tar.gz" and mark["at"][:2] == "20"
    result = pytester.runpytest(*mode, "--exp-resume")
    result.assert_outcomes(skipped=2)
    assert not marker.exists(), "the archive's evil.py was executed"
    # the sweep analysis still runs: the one in this session's test module
    result.stdout.fnmatch_lines(["recommendation: use x=1 (2 runs)"])
    assert "from the archive" not in result.stdout.str()


def test_analyze_runs_an_imported_runs_code_only_with_trust(
    archive: Archive, capsys: pytest.CaptureFixture[str], booby_trapped: tuple[Path, Path]
) -> None:
    packed, marker = booby_trapped
    root = str(archive.root)
    assert run(capsys, "--root", root, "import", str(packed))[0] == 0
    for current in ((), ("--current",)):
        code, out, err = run(capsys, "--root", root, "analyze", "x=1", *current)
        assert (code, out) == (2, "") and one_error_line(err), err
        assert "imported (from colleague.tar.gz)" in err and "--trust" in err
        assert not marker.exists(), "analyze ran the archive's code without being asked"
    code, out, err = run(capsys, "--root", root, "analyze", "x=1", "--trust")
    assert code == 0, err
    assert "from the code snapshot code/evil.py: completed" in out
    assert marker.exists(), "asked with --trust, it runs the run's snapshot"
    assert (archive.runs()[0] / "analysis" / "evil.json").is_file()


@pytest.mark.parametrize("name", ["../../../../evil.py", "/tmp/evil.py", "../config.yaml"])
def test_analyze_refuses_a_snapshot_outside_the_runs_code_folder(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    pytester.makepyfile(test_exp="def test_one(exp):\n    exp.track('loss', 1.0)\n")
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    rewrite_header(archive.run(), code=[name])
    code, out, err = run(capsys, "--root", str(archive.root), "analyze", "run", "--trust")
    assert (code, out) == (2, "") and one_error_line(err)
    assert f"names the code snapshot {name!r}, which is not inside the run's code/" in err


def test_a_sweep_never_imports_a_module_inside_a_run_folder(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    """The rule the controller applies to every module a record names (sweepanalysis.py)."""
    from pytest_expharness.sweep.sweepanalysis import Untrusted, collected_file

    module = pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    folder = archive.runs()[0]
    evil = folder / "code" / "test_exp.py"
    staged = archive.root / ".import-abc" / "test_exp.py"
    staged.parent.mkdir()
    staged.write_text("")
    node = "test_exp.py::test_fit[1]"
    assert collected_file({"module": str(module), "node_id": node}, archive.root) == module
    for path, nodeid, why in [
        (evil, node, "lies inside the run folder"),
        (staged, node, "hidden folder of the archive"),
        (module, "other_test.py::test_fit[1]", "is not the test file of"),
        (folder / "config.yaml", "config.yaml::x", "is not the test file of"),
    ]:
        with pytest.raises(Untrusted, match=why):
            collected_file({"module": str(path), "node_id": nodeid}, archive.root)


# tar bombs

BIG = """
    def test_big(exp):
        exp.commit_raw("zeros.bin", bytes(3_000_000))
        exp.track("loss", 1.0)
"""


def test_import_refuses_an_archive_that_unpacks_past_the_limit(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_big=BIG)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    packed, other = pytester.path / "big.tar.gz", pytester.path / "other"
    assert run(capsys, "--root", str(archive.root), "export", "run", "--to", str(packed))[0] == 0
    assert packed.stat().st_size < 100_000, "3 MB of zeros pack small: a (small) tar bomb"
    code, out, err = run(capsys, "--root", str(other), "import", str(packed), "--max-size", "1MB")
    assert (code, out) == (2, "") and one_error_line(err), err
    assert "unpacks to at least 3.0 MB, more than the limit of 1.0 MB" in err
    assert "--max-size" in err
    assert not other.exists(), "nothing written"
    code, out, err = run(capsys, "--root", str(other), "import", str(packed), "--max-size", "4MiB")
    assert code == 0 and out.startswith("imported 1 run"), err


def raw_tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """A tar stream whose headers say what they like (data written as given)."""
    out = io.BytesIO()
    for info, data in entries:
        out.write(info.tobuf(tarfile.GNU_FORMAT))
        out.write(data + bytes(-len(data) % tarfile.BLOCKSIZE))
    return out.getvalue() + bytes(2 * tarfile.BLOCKSIZE)


def test_import_refuses_headers_declaring_more_than_the_default_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip

    manifest = json.dumps({"format": 1, "runs": ["fit/s/x=1"], "files": []}).encode()
    head = tarfile.TarInfo("expharness-export.json")
    head.size = len(manifest)
    bomb = tarfile.TarInfo("fit/s/x=1/artifacts/zeros.bin")
    bomb.size = 5 * 10**9  # declared; the data never follows
    source = tmp_path / "lying.tar.gz"
    source.write_bytes(gzip.compress(raw_tar([(head, manifest), (bomb, b"")])))
    other = tmp_path / "other"
    code, out, err = run(capsys, "--root", str(other), "import", str(source))
    assert (code, out) == (2, "") and one_error_line(err), err
    assert "unpacks to at least 5.0 GB, more than the limit of 4.0 GB" in err
    assert not other.exists()


def test_import_refuses_an_absurd_number_of_members(
    pytester: pytest.Pytester,
    archive: Archive,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_expharness.catalog import transfer

    pytester.makepyfile(test_exp="def test_one(exp):\n    exp.track('loss', 1.0)\n")
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    packed, other = pytester.path / "one.tar.gz", pytester.path / "other"
    assert run(capsys, "--root", str(archive.root), "export", "run", "--to", str(packed))[0] == 0
    with tarfile.open(packed) as tar:
        count = len(tar.getmembers())
    monkeypatch.setattr(transfer, "MAX_MEMBERS", count - 1)
    code, out, err = run(capsys, "--root", str(other), "import", str(packed))
    assert (code, out) == (2, "") and one_error_line(err), err
    assert f"more than {count - 1:,} members" in err and not other.exists()
    monkeypatch.setattr(transfer, "MAX_MEMBERS", count)
    assert run(capsys, "--root", str(other), "import", str(packed))[0] == 0


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("config.yaml", "experiment: {name: [unclosed", "config.yaml does not read back"),
        ("config.yaml", "- a list\n- not a config\n", "config.yaml is not a mapping with"),
        ("config.yaml", "x: " + "[" * 5000 + "]" * 5000, "config.yaml does not read back"),
        ("summary.json", "{not json", "summary.json does not read back"),
        ("summary.json", "[1, 2]", "summary.json is not a JSON object"),
        ("summary.json", None, "x=2 is not a run folder in the archive"),
    ],
)
def test_import_refuses_a_run_whose_files_do_not_read_back_and_writes_nothing(
    pytester: pytest.Pytester,
    archive: Archive,
    capsys: pytest.CaptureFixture[str],
    file: str,
    text: str | None,
    message: str,
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    _, second = archive.runs()  # x=1 imports first, then x=2 is refused
    if text is None:
        (second / file).unlink()
    else:
        (second / file).write_text(text)
    packed, other = pytester.path / "bad.tar.gz", pytester.path / "other"
    code, _, err = run(
        capsys, "--root", str(archive.root), "export", "x=1", "x=2", "--to", str(packed)
    )
    assert code == 0, err
    code, out, err = run(capsys, "--root", str(other), "import", str(packed))
    assert (code, out) == (2, "") and one_error_line(err), err
    assert message in err
    assert not other.exists(), "not even the good run x=1 is imported"


# --max-size

UNIT_FACTORS = {
    "": 1, "B": 1, "k": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}  # fmt: skip


@given(
    number=st.integers(min_value=1, max_value=10**6),
    unit=st.sampled_from(sorted(UNIT_FACTORS)),
    spaces=st.sampled_from(["", " ", "  "]),
    case=st.sampled_from([str, str.lower, str.upper]),
)
def test_parse_size_reads_every_unit_in_any_case(
    number: int, unit: str, spaces: str, case: object
) -> None:
    from pytest_expharness.catalog.transfer import parse_size

    text = f"{spaces}{number}{spaces}{case(unit)}{spaces}"  # type: ignore[operator]
    assert parse_size(text) == number * UNIT_FACTORS[unit]


@given(st.integers(min_value=1, max_value=10**15))
def test_a_size_as_printed_reads_back_within_its_rounding(size: int) -> None:
    from pytest_expharness.catalog.transfer import format_size, parse_size

    shown = format_size(size)
    unit = max(f for f in (1, 10**3, 10**6, 10**9, 10**12) if size >= f)
    assert abs(parse_size(shown.replace(" ", "")) - size) <= unit // 20 + 1


@given(st.text(max_size=20))
def test_parse_size_gives_bytes_or_a_clear_error_for_any_text(text: str) -> None:
    from pytest_expharness.catalog.transfer import parse_size

    try:
        size = parse_size(text)
    except ValueError as error:
        assert repr(text) in str(error)
    else:
        assert isinstance(size, int) and size > 0


@pytest.mark.parametrize("given_size", ["lots", "-1GB", "0", "1e9", "5 parsecs"])
def test_import_with_a_bad_max_size_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given_size: str
) -> None:
    source = tmp_path / "any.tar.gz"
    source.write_bytes(b"")
    code, out, err = run(capsys, "import", str(source), f"--max-size={given_size}")
    assert (code, out) == (2, "") and one_error_line(err)
    assert f"--max-size {given_size!r}" in err and ("500MB" in err or "more than 0" in err)
