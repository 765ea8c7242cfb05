"""The checkpoint store on its own: atomic saves, the manifest as the truth, keep, restore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_expharness.checkpoints.store import (
    FOLDER,
    CheckpointError,
    Checkpoints,
    check_keep,
    check_step,
    read_manifest,
)

OPS = st.lists(
    st.tuples(
        st.sampled_from(["save", "path", "path-unwritten"]),
        st.integers(0, 30),
        st.one_of(st.none(), st.integers(1, 4)),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_the_manifest_names_whole_files_only_and_restore_gives_the_newest(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int, int | None]]
) -> None:
    run = tmp_path_factory.mktemp("run")
    store = Checkpoints(run)
    whole: dict[int, Any] = {}  # step -> what a restore of it gives
    for kind, step, keep in ops:
        if kind == "save":
            store.save({"step": step}, step, keep)
            whole[step] = {"step": step}
        else:
            path = store.path(step, keep)
            if kind == "path":
                path.write_bytes(b"framework file")
                store.commit()
                whole[step] = path
            else:
                store.pending = None  # killed while the framework wrote: never taken in
        entries = read_manifest(run)
        assert len(entries) <= (store.keep if keep is None else keep) or kind == "path-unwritten"
        steps = [e["step"] for e in entries]
        assert steps == sorted(set(steps))
        for entry in entries:
            assert (run / FOLDER / entry["file"]).exists()
        named = {e["file"] for e in entries} | {"manifest.json"}
        assert {p.name for p in (run / FOLDER).iterdir()} - named <= {
            p.name for p in (run / FOLDER).iterdir() if p.name.endswith(".ckpt")
        }  # only a path handed out and not written may lie about, never a .pkl
    found = store.restore()
    entries = read_manifest(run)
    if not entries:
        assert found is None
        return
    assert found is not None
    state, step = found
    assert step == entries[-1]["step"] == max(e["step"] for e in entries)
    assert state == whole[step]


def test_a_torn_manifest_or_file_restores_nothing_rather_than_garbage(tmp_path: Path) -> None:
    store = Checkpoints(tmp_path)
    store.save([1, 2, 3], 4)
    (tmp_path / FOLDER / "manifest.json").write_text('{"format": 1, "checkpoints": [{"st')
    assert store.restore() is None
    (tmp_path / FOLDER / "manifest.json").write_text(
        json.dumps({"checkpoints": [{"step": 9, "file": "../../x", "kind": "pickle"}]})
    )
    assert store.restore() is None  # a name outside the folder is never read


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: check_keep(0), "keep=0: give a whole number of at least 1"),
        (lambda: check_keep(True), "keep=True"),
        (lambda: check_step(-1), "step=-1: give a whole number of at least 0"),
        (lambda: check_step(2.5), "step=2.5"),
    ],
)
def test_bad_keep_and_step_say_what_is_wrong(call: Any, message: str) -> None:
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(")):
        call()


def test_a_state_that_cannot_be_pickled_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"cannot be pickled.*exp.checkpoint_path"):
        Checkpoints(tmp_path).save(lambda: 0, 1)
    assert read_manifest(tmp_path) == []
