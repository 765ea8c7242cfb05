"""Bounded input: every value from --exp-set, --exp-config or an archive is read within limits.

A YAML bomb, a 5,000-digit int, a 5,000-deep list, a binary or FIFO config file,
a duplicate key: each is a usage error (exit 4) naming the option and the key,
before any run folder exists; a bomb inside an archived config.yaml is a
damaged folder to its readers, never a hang.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

from pytest_expharness.archive import yamltext
from pytest_expharness.cli import main as cli

from conftest import XDIST_MODES, Archive

EXPERIMENT = """
    EPOCHS: int = 10
    LAYERS: list = [8]
    NAME: str = "x"

    def test_train(exp):
        exp["layers"] = len(exp.LAYERS)
"""


def alias_bomb(levels: int, leaf: str = "x", fan: int = 9) -> str:
    """A flow list of `levels` anchors, each aliasing the one before `fan` times."""
    items = [f"&a0 [{', '.join([leaf] * fan)}]"]
    items += [f"&a{i} [{', '.join([f'*a{i - 1}'] * fan)}]" for i in range(1, levels)]
    return "[" + ", ".join(items) + "]"


INPUT_BOMBS = [
    pytest.param(
        ["--exp-set", f"LAYERS={alias_bomb(5)}"],
        "--exp-set LAYERS: more than 20,000 nodes and characters once its aliases are written out",
        id="set-alias-bomb",
    ),
    pytest.param(
        ["--exp-config", "bomb.yaml"],
        "--exp-config bomb.yaml: more than 2,000,000 nodes and characters once its aliases",
        id="config-alias-bomb",
    ),
    pytest.param(
        ["--exp-set", "EPOCHS=" + "7" * 5000],
        "--exp-set EPOCHS: a number of 5,000 characters; at most 4,400",
        id="set-5000-digit-int",
    ),
    pytest.param(
        ["--exp-set", "LAYERS=" + "[" * 5000 + "]" * 5000],
        "--exp-set LAYERS: collections nested more than 100 levels deep",
        id="set-5000-deep-list",
    ),
    pytest.param(
        ["--exp-set", "NAME=" + "a" * 20_000],
        "--exp-set NAME: 20,000 characters; at most 10,000 are read",
        id="set-too-long",
    ),
    pytest.param(
        ["--exp-config", "dup.yaml"],
        "--exp-config dup.yaml: key 'EPOCHS' is given twice (line 3)",
        id="config-duplicate-key",
    ),
    pytest.param(
        ["--exp-config", "huge.yaml"],
        "--exp-config huge.yaml: 1,200,000 bytes; a config file holds at most 1,000,000",
        id="config-too-large",
    ),
    pytest.param(
        ["--exp-config", "nul.yaml"],
        "--exp-config nul.yaml: holds NUL bytes, so it is binary, not YAML text",
        id="config-nul-bytes",
    ),
    pytest.param(
        ["--exp-config", "latin1.yaml"],
        "--exp-config latin1.yaml: not UTF-8 text (byte 0xe9 at offset 9); save it as UTF-8",
        id="config-not-utf8",
    ),
]


def _write_inputs(folder: Path) -> None:
    leaf = '"' + "y" * 100 + '"'
    (folder / "bomb.yaml").write_text(f"EPOCHS: 3\nLAYERS: {alias_bomb(5, leaf)}\n")
    (folder / "dup.yaml").write_text("EPOCHS: 3\nNAME: b\nEPOCHS: 4\n")
    (folder / "huge.yaml").write_text("#" * 1_199_999 + "\n")
    (folder / "nul.yaml").write_bytes(b"EPOCHS: 3\n\x00\x01\x02")
    (folder / "latin1.yaml").write_bytes("NAME: caf\u00e9\n".encode("latin-1"))


def _assert_refused_before_any_run(result: pytest.RunResult, folder: Path, message: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    assert message in result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stderr.str()
    assert not (folder / "results").exists(), "a run folder was made before the refusal"


@pytest.mark.parametrize("mode", XDIST_MODES)
@pytest.mark.parametrize(("args", "message"), INPUT_BOMBS)
def test_bounded_input_is_a_usage_error_naming_the_key(
    pytester: pytest.Pytester, mode: list[str], args: list[str], message: str
) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    _write_inputs(pytester.path)
    started = time.monotonic()
    result = pytester.runpytest(*mode, "-p", "no:randomly", *args)
    _assert_refused_before_any_run(result, pytester.path, message)
    assert time.monotonic() - started < 30


def test_fifo_config_is_refused_without_opening_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    fifo = pytester.path / "pipe.yaml"
    os.mkfifo(fifo)
    stop = threading.Event()

    def feed() -> None:  # a reader blocked in open() gets a config and goes on
        while not stop.wait(0.2):
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader has it open
                continue
            os.write(fd, b"EPOCHS: 3\n")
            os.close(fd)
            return

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        result = pytester.runpytest("-p", "no:xdist", "-p", "no:randomly", "--exp-config", fifo)
    finally:
        stop.set()
        feeder.join()
    message = f"--exp-config {fifo}: is a FIFO (named pipe), not a regular file"
    _assert_refused_before_any_run(result, pytester.path, message)


def test_alias_bomb_in_an_archived_config_is_a_damaged_folder(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest("-p", "no:xdist", "-p", "no:randomly").assert_outcomes(passed=1)
    run = archive.run("train")
    config = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(config.replace("  LAYERS: [8]\n", f"  LAYERS: {BOMB_7}\n"))
    (archive.root / "index.sqlite").unlink()
    started = time.monotonic()
    assert cli.main(["--root", str(archive.root), "reindex"]) == 0
    assert time.monotonic() - started < 30
    err = capsys.readouterr().err
    assert "config.yaml" in err and "alias" in err, err
    assert (archive.root / "index.sqlite").stat().st_size < 1_000_000
    with pytest.raises(ValueError, match="uses a YAML alias"):  # yamltext.YamlError
        yamltext.load((run / "config.yaml").read_text(), str(run / "config.yaml"))


BOMB_7 = alias_bomb(7)  # 350 characters, 4.8 million strings once written out


def test_config_yaml_reader_refuses_what_no_config_yaml_holds() -> None:
    header = "experiment:\n  name: train\nparameters:\n"
    refused = {
        f"  LAYERS: {BOMB_7}\n": "uses a YAML alias (*name)",
        "  LAYERS: " + "[" * 150 + "]" * 150 + "\n": "nested more than 100 levels deep",
        "  EPOCHS: 1\n  EPOCHS: 2\n": "key 'EPOCHS' is given twice (line 5)",
        "  EPOCHS: " + "9" * 5000 + "\n": "a number of 5,000 characters",
        "  EPOCHS: 0x" + "f" * 4000 + "\n": "an integer of more than 4,300 digits",
        "  L: &a [*a]\n": "an alias inside the collection it names",
    }
    for body, message in refused.items():
        started = time.monotonic()
        with pytest.raises(ValueError, match=re.escape(message)):
            yamltext.load(header + body, "results/x/config.yaml")
        assert time.monotonic() - started < 1
    with pytest.raises(ValueError, match=re.escape("results/x/config.yaml: 9,000,001 characters")):
        yamltext.load("#" * 9_000_001, "results/x/config.yaml")
    text = header + '  TAGS: ["*", "&x", "a*b"]\n  NESTED: ' + "[" * 90 + "]" * 90 + "\n"
    assert yamltext.load(text)["parameters"]["TAGS"] == ["*", "&x", "a*b"]


def test_anchors_in_a_user_config_file_are_read_within_bounds(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    merged = "<<: {EPOCHS: 2, NAME: merged}\nEPOCHS: 3\n"  # a merged key overridden: no duplicate
    pytester.makefile(".yaml", anchors=f"LAYERS: &l [4, 4]\n{merged}")
    result = pytester.runpytest(
        "-p", "no:xdist", "-p", "no:randomly", "--exp-config", "anchors.yaml"
    )
    result.assert_outcomes(passed=1)
    config = archive.config(archive.run("train"))
    assert config["parameters"] == {"EPOCHS": 3, "LAYERS": [4, 4], "NAME": "merged"}
    assert "&" not in (archive.run("train") / "config.yaml").read_text()
