"""The last step of writing series/ and metrics.csv: every part joined, then renamed into place."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..layout import METRICS
from ..metricsfile import CSV_HEADER, Columns
from . import sink
from .sink import FOLDER, INDEX, Part, append_file, file_name, npy_header, pwrite_all


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
