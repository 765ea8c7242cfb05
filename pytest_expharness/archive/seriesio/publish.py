"""The parts of series/ and metrics.csv: the files of one stretch (Writer), then all joined."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..layout import METRICS
from ..metricsfile import CSV_HEADER, Columns
from . import sink
from .sink import FOLDER, INDEX, Part, Sink, append_file, file_name, npy_header, pwrite_all


def csv_part(work: Path, tag: str, sid: int) -> Path:
    """Return the CSV part of series `sid` written by the process tagged `tag`."""
    return work / f"{tag}{sid}.csv"


class Writer:
    """The sinks of one process's stretch of a run's series, by journal series id.

    The first sink made writes metrics.csv's header first when `header` is set
    (whoever writes the first series' first rows). CSV parts are `<tag><id>.csv`.
    """

    def __init__(self, work: Path, tag: str, header: bool) -> None:
        self.work, self.tag, self.header = work, tag, header
        self.sinks: dict[int, Sink] = {}

    def sink(self, sid: int, name: str, part: Part) -> Sink:
        found = self.sinks.get(sid)
        if found is None:
            target = self.work / file_name(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            csv = open(csv_part(self.work, self.tag, sid), "wb")  # noqa: SIM115
            if self.header:
                csv.write(CSV_HEADER.encode())
                self.header = False
            found = self.sinks[sid] = Sink(name, target, csv, part)
        return found

    def close(self) -> dict[int, Part]:
        """Close every file; return each series' part."""
        parts = {}
        for sid, found in self.sinks.items():
            found.csv.close()
            parts[sid] = found.close()
        return parts


class Entry:
    """One series to publish: its parts in order, and their CSV files (in the same order)."""

    def __init__(self, name: str, parts: list[Part], csvs: list[Path]) -> None:
        self.name, self.parts, self.csvs = name, parts, csvs


def publish(folder: Path, work: Path, entries: list[Entry]) -> dict[str, Columns]:
    """Finish a folder of written series: headers, index.json, metrics.csv joined; rename both.

    `work` holds each series' .npy file (its records written, not its header)
    and the CSV parts; the first part of the first series starts with the
    header. metrics.csv is renamed into place first, then the folder as series/.
    """
    out = entries[0].csvs[0] if entries and entries[0].csvs else work / METRICS
    if not entries or not entries[0].csvs:
        out.write_bytes(CSV_HEADER.encode())
    index, columns = [], {}
    fd = os.open(out, os.O_WRONLY)
    try:
        for entry in entries:
            stats, sample = sink.merge(entry.parts)
            npy = os.open(work / file_name(entry.name), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                pwrite_all(npy, npy_header(stats["count"]), 0)
            finally:
                os.close(npy)
            for part in entry.csvs:
                if part != out:
                    append_file(fd, part)
                    os.unlink(part)
            index.append({"name": entry.name, "file": file_name(entry.name), **stats})
            cols = Columns.of(*sample)
            cols.stats = stats
            columns[entry.name] = cols
    finally:
        os.close(fd)
    (work / INDEX).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    os.replace(out, folder / METRICS)
    final = folder / FOLDER
    if final.exists():  # a rebuild after a crash that left an older copy
        shutil.rmtree(final)
    if entries:
        os.replace(work, final)
    else:
        shutil.rmtree(work)
    return columns
