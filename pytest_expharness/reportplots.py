"""The figures of report.html: overlaid learning curves and metric-versus-parameter plots.

One Agg figure is reused for every plot (making a figure costs more than
drawing on one), long series are thinned like the per-run plots, and every
PNG is returned as bytes for a data URI.
"""

from __future__ import annotations

import io
import math
from typing import Any

from .report import _thin

MAX_LEGEND = 12


class Plotter:
    """Draws the report's figures on one reused matplotlib figure."""

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(6.4, 3.6), dpi=90)
        FigureCanvasAgg(self.fig)

    def _png(self) -> bytes:
        # fixed margins: tight_layout measures every label and costs more than the drawing
        self.fig.subplots_adjust(left=0.13, right=0.97, top=0.9, bottom=0.16)
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png")
        self.fig.clear()
        return buffer.getvalue()

    def curves(self, series: str, runs: list[tuple[str, Any]], best: str | None) -> bytes:
        """Every run's curve of one series, the best run drawn on top in black."""
        import numpy as np

        ax = self.fig.add_subplot()
        colours = _colours(len(runs))
        for (label, values), colour in zip(runs, colours, strict=True):
            steps = np.asarray(values.steps, dtype=float)
            ys = np.asarray(values, dtype=float)
            steps, ys = _thin(steps, ys)
            is_best = label == best
            ax.plot(
                steps,
                ys,
                color="black" if is_best else colour,
                linewidth=2.0 if is_best else 1.0,
                alpha=1.0 if is_best else 0.75,
                zorder=3 if is_best else 2,
                label=f"{label} (best)" if is_best else label,
            )
        ax.set_title(series)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(runs) <= MAX_LEGEND:
            ax.legend(fontsize=7, loc="best")
        return self._png()

    def versus(self, axis: str, metric: str, points: list[tuple[Any, float]], mode: str) -> bytes:
        """A final metric against one sweep axis: a line for numbers, bars for categories."""
        ax = self.fig.add_subplot()
        numeric = all(_is_number(x) for x, _ in points)
        if numeric:
            groups: dict[float, list[float]] = {}
            for x, y in points:
                groups.setdefault(float(x), []).append(y)
            xs = sorted(groups)
            means = [sum(groups[x]) / len(groups[x]) for x in xs]
            ax.scatter([float(x) for x, _ in points], [y for _, y in points], s=12, alpha=0.5)
            ax.plot(xs, means, marker="o", linewidth=1.5)
            if len(xs) > 2 and min(xs) > 0 and max(xs) / min(xs) >= 100:
                ax.set_xscale("log")
        else:
            labels: list[str] = []
            values: dict[str, list[float]] = {}
            for x, y in points:
                key = str(x)
                if key not in values:
                    labels.append(key)
                values.setdefault(key, []).append(y)
            means = [sum(values[k]) / len(values[k]) for k in labels]
            ax.bar(range(len(labels)), means, color="#4c72b0")
            ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 4 else 0)
        ax.set_xlabel(axis)
        ax.set_ylabel(f"{metric} ({mode})")
        ax.set_title(f"{metric} by {axis} (mean over other axes)")
        ax.grid(alpha=0.3)
        return self._png()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    cmap = colormaps["viridis"]  # many runs: a gradient in sweep order
    return [cmap(i / max(n - 1, 1) * 0.85) for i in range(n)]


def finite(value: Any) -> bool:
    """Whether a value is a finite number (plottable)."""
    return _is_number(value) and math.isfinite(value)
