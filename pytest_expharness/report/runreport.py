"""Human-facing files of a run: config.yaml, plots of tracked series, REPORT.md."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

from ..archive import layout, yamltext
from ..archive.labels import notes_of
from ..archive.metricsfile import Columns
from . import seriesplots
from .seriesplots import PNG, SVG


def write_config(path: Path, config: dict[str, Any], constant: dict[str, Any]) -> list[str]:
    """Write config.yaml atomically; return (and warn in run.log of) each substituted value.

    config.yaml holds only what reads back: a value YAML cannot hold (a lone
    surrogate, a huge int, a too deep or too large value) is written as a
    substitute (yamltext.writable), and run.log says so.
    """
    notes: list[str] = []
    layout.atomic_write_text(path, yamltext.config_text(config, constant, notes))
    if notes:
        stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        with open(path.parent / layout.LOG, "a", encoding="utf-8") as log:
            log.writelines(f"{stamp} WARNING {note}\n" for note in notes)
    return notes


def make_plots(folder: Path, columns: dict[str, Columns]) -> tuple[list[str], str | None]:
    """Plot every series with at least two points as plots/<series>.svg; return them and any error.

    Drawn without matplotlib (seriesplots.py); PNGs are made only when asked for.
    """
    return seriesplots.make_svg_plots(folder, columns)


MAX_GIF_FRAMES = 200
GIF_FRAME_MS = 200


def make_gifs(folder: Path, frames: dict[str, int]) -> tuple[list[str], str | None]:
    """Animate every image series with two frames or more into plots/<name>.gif.

    Frames are taken in step order (evenly thinned to 200) and scaled to the
    first frame's size. Returns the GIF paths and any error.
    """
    made: list[str] = []
    try:
        for name, count in frames.items():
            if count < 2:
                continue
            from PIL import Image

            paths = sorted((folder / layout.TRACKED / Path(*name.split("/"))).glob("*.png"))
            if len(paths) > MAX_GIF_FRAMES:
                step = len(paths) / MAX_GIF_FRAMES
                paths = [paths[int(i * step)] for i in range(MAX_GIF_FRAMES)]
            images = []
            for path in paths:
                with Image.open(path) as image:
                    images.append(image.convert("RGB"))
            size = images[0].size
            images = [i if i.size == size else i.resize(size) for i in images]
            buffer = io.BytesIO()
            images[0].save(
                buffer,
                format="GIF",
                save_all=True,
                append_images=images[1:],
                duration=GIF_FRAME_MS,
                loop=0,
            )
            relative = f"{layout.PLOTS}/{name}.gif"
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            layout.atomic_write_bytes(target, buffer.getvalue())
            made.append(relative)
        return made, None
    except Exception as error:  # an animation must never cost the run its results
        return made, f"animations could not be made: {type(error).__name__}: {error}"


def _fmt(value: Any) -> str:
    """Return a value as the text of one markdown table cell."""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")


def _duration(summary: dict[str, Any]) -> str:
    duration = summary.get("duration")
    if isinstance(duration, (int, float)):
        return f"{duration:.3f} s"
    crash = summary.get("crash") or {}
    seen = [t for t in (summary.get("heartbeat"), crash.get("last_point")) if t is not None]
    start = summary.get("started_unix")
    if seen and isinstance(start, (int, float)):
        return f"unknown (alive for at least {max(seen) - start:.1f} s)"
    return "unknown"


def git_text(head: dict[str, Any]) -> str:
    """The commit of a run, or why there is none (no commits yet, not a git repository)."""
    return str(head.get("git_commit") or head.get("git_note") or "not a git repository")


def _notes(head: dict[str, Any]) -> list[str]:
    """The note lines of REPORT.md, oldest first: `- notes:` then one item per note."""
    items = []
    for note in notes_of(head):
        when = ", ".join(_fmt(note[k]) for k in ("at", "label") if note.get(k))
        items.append(f"  - {when + ': ' if when else ''}{_fmt(note.get('note'))}")
    return ["- notes:", *items] if items else []


def _plot_lines(plots: list[str]) -> list[str]:
    """An image per plot; a PNG made beside a series' SVG is a link after that image."""
    listed = set(plots)
    png_of = {p: p[: -len(SVG)] + PNG for p in plots if p.endswith(SVG)}
    twins = {png for png in png_of.values() if png in listed}
    lines = []
    for plot in plots:
        if plot in twins:
            continue
        twin = png_of.get(plot)
        lines.append(f"![{plot}]({plot})" + (f" ([PNG]({twin}))" if twin in twins else ""))
    return lines


def write_report(folder: Path, config: dict[str, Any], summary: dict[str, Any]) -> None:
    """Write REPORT.md: parameters, status, timing, metrics, components, artifacts, plots."""
    head = config["experiment"]
    lines = [f"# {head['name']} / {summary['run_id']}", ""]
    if head.get("description"):
        lines += [head["description"], ""]
    lines += [
        f"- status: **{summary['status']}**",
        f"- started: {summary['started']}, duration: {_duration(summary)}",
        f"- session: {head['session']}, node: `{head['node_id']}`",
        f"- git: {git_text(head)}" + (" (dirty)" if head.get("git_dirty") else ""),
    ]
    if head.get("label"):
        lines.append(f"- label: {_fmt(head['label'])}")
    if head.get("tags"):
        lines.append(f"- tags: {_fmt(', '.join(str(t) for t in head['tags']))}")
    lines += _notes(head)
    if head.get("parent"):
        lines.append(f"- variant of {head['parent']}")
    if head.get("testing"):
        lines.append("- testing mode (smoke-sized parameters)")
    error = summary.get("error")
    crash = summary.get("crash")
    if crash:
        lines += ["", "## Crash", "", f"The run's process died: {_fmt(crash.get('reason'))}."]
        lines.append("Everything tracked up to about a second before is kept.")
    if error:
        lines += ["", "## Error", "", "```text", f"{error['type']}: {error['message']}", "```"]
    if summary.get("reason"):
        lines += ["", f"Reason: {summary['reason']}"]
    lines += ["", "## Parameters", "", "| name | value |", "| --- | --- |"]
    lines += [f"| {k} | `{_fmt(repr(v))}` |" for k, v in config["parameters"].items()]
    metrics = summary.get("metrics") or {}
    if metrics:
        lines += ["", "## Metrics", "", "| series | final | min | max | count |"]
        lines.append("| --- | --- | --- | --- | --- |")
        for name, s in metrics.items():
            cells = [_fmt(s[k]) for k in ("final", "min", "max", "count")]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    results = summary.get("results") or {}
    if results:
        lines += ["", "## Results", "", "| key | value |", "| --- | --- |"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in results.items()]
    components = summary.get("components") or {}
    if components:
        lines += ["", "## Components", "", "| component | status | reason | hint |"]
        lines.append("| --- | --- | --- | --- |")
        for name, c in components.items():
            cells = [_fmt(c["status"]), _fmt(c.get("reason")), _fmt(c.get("hint"))]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
            for key, value in (c.get("data") or {}).items():
                lines.append(f"|  ↳ {key} | {_fmt(value)} | | |")
    found = summary.get("artifacts") or []
    if found:
        lines += ["", "## Artifacts", ""]
        lines += [f"- [{a}]({layout.ARTIFACTS}/{a})" for a in found]
    frames = summary.get("frames") or {}
    if frames:
        lines += ["", "## Tracked images", ""]
        lines += [f"- `{layout.TRACKED}/{n}/`: {count} frames" for n, count in frames.items()]
    analysis = summary.get("analysis") or {}
    if analysis:
        lines += ["", "## Analysis", ""]
        lines.append(f"{analysis['function']} ({analysis['source']}): **{analysis['status']}**")
        if analysis.get("error"):
            lines.append(f"\n`{_fmt(analysis['error'])}`")
        lines += [""] + [
            f"![{f}](analysis/{f})"
            if f.endswith((".png", ".gif", ".svg"))
            else f"- [{f}](analysis/{f})"
            for f in analysis.get("files") or []
        ]
    plots = summary.get("plots") or []
    if plots:
        lines += ["", "## Plots", ""]
        lines += _plot_lines([str(p) for p in plots])
    layout.atomic_write_text(folder / layout.REPORT, "\n".join(lines) + "\n")
