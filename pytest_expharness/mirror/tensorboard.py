"""Runs mirrored as TensorBoard event files: `<DIR>/<experiment>/<session>/<run id>/`.

TensorBoard shows each folder of event files as a run, so every run of ours
gets one: its series as scalars (every point, its step and wall time; TensorBoard
keeps a scalar as float32) and its tracked image frames as images (the PNGs as
they are). Names stay ours: TensorBoard takes any tag. A run is written into a
hidden staging folder and then put in place of its earlier mirror, so a second
export replaces a run's events instead of adding to them, and an export cut
short leaves the earlier mirror whole. The writer is tensorboard's own
(EventFileWriter and its protobufs), which needs neither TensorFlow nor torch.
A run still running is left for later.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .extras import MirrorError, need
from .mlflow import Mirrored
from .source import Source, read

STAGING = ".expharness-staging-"
_COLOURS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # PNG colour type: channels


def export(folders: Sequence[Path], target: Path) -> Mirrored:
    """Write each run's event files under target; see the module's docstring."""
    need("tensorboard.summary.writer.event_file_writer")
    done = Mirrored()
    for folder in folders:
        source = read(folder)
        name = f"{source.experiment}/{source.session}/{source.run_id}"
        if source.status == "running":
            done.skipped.append((name, "still running; export it when it has ended"))
            continue
        place = target / source.experiment / source.session / source.run_id
        existed = place.exists()
        try:
            write_run(source, place)
        except OSError as error:
            raise MirrorError(f"cannot write {place}: {error.strerror or error}") from None
        (done.updated if existed else done.added).append(name)
    return done


def write_run(source: Source, place: Path) -> None:
    """Write one run's event files in a staging folder, then put it in place of place."""
    place.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING, dir=place.parent))
    try:
        write_events(source, staging)
        if place.exists():
            old = place.with_name(f"{STAGING}old-{place.name}")
            shutil.rmtree(old, ignore_errors=True)
            place.rename(old)
            staging.rename(place)
            shutil.rmtree(old)
        else:
            staging.rename(place)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_events(source: Source, folder: Path) -> None:
    """Write a run's scalars and image frames as one event file in folder."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(folder), max_queue_size=1000)
    try:
        for batch in source.points():
            for name, value, step, when in batch:
                summary = Summary(value=[Summary.Value(tag=name, simple_value=value)])
                writer.add_event(Event(wall_time=when, step=step, summary=summary))
        started = float(source.summary.get("started_unix") or 0.0)
        for name, step, path in source.frames():
            image = image_summary(path.read_bytes())
            summary = Summary(value=[Summary.Value(tag=name, image=image)])
            wall = path.stat().st_mtime if started <= 0 else max(started, path.stat().st_mtime)
            writer.add_event(Event(wall_time=wall, step=step, summary=summary))
    finally:
        writer.close()


def image_summary(png: bytes) -> Any:
    """A TensorBoard image of a PNG, its size and channels read from its header."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height, _, colour = struct.unpack(">IIBB", png[16:26])
    return Summary.Image(
        height=height, width=width, colorspace=_COLOURS.get(colour, 3), encoded_image_string=png
    )
