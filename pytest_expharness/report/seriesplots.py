"""The plots of one run's tracked series: SVG at the end of every run, PNG when asked.

Every run that tracks a curve gets plots/<series>.svg, drawn by svgchart.py as
text: about 0.2 ms for a short series, and no import. Matplotlib costs 0.4 s
to import and about 35 ms a PNG, more than the whole rest of a run, so it
draws only when a PNG is asked for (`expharness plots --png`).

A series longer than MAX_PLOT_POINTS is thinned to the minimum and maximum of
each of MAX_PLOT_POINTS / 2 buckets, so a spike stays visible; numpy does the
thinning (a view of the values, no copy when they are an array), and is
imported only for such a series.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..archive import layout
from ..archive.metricsfile import Columns
from .svgchart import TAB10, Chart

MAX_PLOT_POINTS = 2000
SVG, PNG = ".svg", ".png"


def plot_name(series: str, suffix: str = SVG) -> str:
    """Return the relative path of a series' plot (plots/<series>.svg, or .png)."""
    return f"{layout.PLOTS}/{series}{suffix}"


def thin(
    steps: Sequence[Any], values: Sequence[float], limit: int = MAX_PLOT_POINTS
) -> tuple[Sequence[Any], Sequence[float]]:
    """A series as it is when short, else each bucket's first step twice, with its min and max.

    NaN is ignored within a bucket (a bucket of NaN only stays NaN, a gap in the line).
    """
    n = len(values)
    if n <= limit:
        return steps, values
    import numpy as np

    found = np.asarray(values, dtype=float)
    starts = np.linspace(0, n, limit // 2 + 1, dtype=np.int64)[:-1]
    lo = np.fmin.reduceat(found, starts)
    hi = np.fmax.reduceat(found, starts)
    xs = [float(steps[int(i)]) for i in starts]
    return [x for x in xs for _ in (0, 1)], np.column_stack([lo, hi]).ravel().tolist()


def svg_text(series: str, steps: Sequence[Any], values: Sequence[float]) -> str:
    """The SVG document of one series' plot (a non-finite value breaks its line)."""
    chart = Chart(series, xlabel="step", ident="p")
    chart.line(*thin(steps, values), TAB10[0], 1.4)
    return chart.render(css_class="chart series")


def _plotted(columns: dict[str, Columns]) -> dict[str, Columns]:
    return {name: cols for name, cols in columns.items() if len(cols) >= 2}


def make_svg_plots(folder: Path, columns: dict[str, Columns]) -> tuple[list[str], str | None]:
    """Write plots/<series>.svg of every series of two points or more; return them and any error."""
    made: list[str] = []
    folders: set[Path] = set()
    try:
        for name, cols in _plotted(columns).items():
            relative = plot_name(name)
            target = folder / relative
            if target.parent not in folders:  # one mkdir a folder: a run is a few ms in all
                target.parent.mkdir(parents=True, exist_ok=True)
                folders.add(target.parent)
            layout.atomic_write_text(target, svg_text(name, cols.steps, cols.values))
            made.append(relative)
        return made, None
    except Exception as error:  # a plot must never cost the run its results
        return made, f"plots could not be made: {type(error).__name__}: {error}"


class _SeriesPlot:
    """One matplotlib figure, axes and line reused for every PNG of the process.

    Making a figure and laying it out cost more than drawing: updating one
    line's data and saving is about 2.5x faster than a new figure each time.
    """

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(6, 3.5), dpi=100)
        FigureCanvasAgg(self.fig)
        self.fig.subplots_adjust(left=0.14, right=0.97, top=0.9, bottom=0.14)
        self.ax = self.fig.add_subplot()
        (self.line,) = self.ax.plot([], [], linewidth=1.2)
        self.ax.set_xlabel("step")
        self.ax.grid(alpha=0.3)

    def png(self, name: str, steps: Any, values: Any) -> bytes:
        self.line.set_data(steps, values)
        self.ax.relim()
        self.ax.autoscale_view()
        self.ax.set_title(name)
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png")
        return buffer.getvalue()


_FIGURE: _SeriesPlot | None = None


def make_png_plots(folder: Path, columns: dict[str, Columns]) -> tuple[list[str], str | None]:
    """Write plots/<series>.png with matplotlib (imported here); return them and any error."""
    global _FIGURE
    made: list[str] = []
    try:
        for name, cols in _plotted(columns).items():
            if _FIGURE is None:
                _FIGURE = _SeriesPlot()
            steps, values = thin(cols.steps, cols.values)
            relative = plot_name(name, PNG)
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            layout.atomic_write_bytes(target, _FIGURE.png(name, list(steps), list(values)))
            made.append(relative)
        return made, None
    except Exception as error:  # say what is missing (matplotlib not installed, a full disk)
        return made, f"PNG plots could not be made: {type(error).__name__}: {error}"
