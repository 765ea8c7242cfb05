"""The `analysis.py` every finished run gets: a short script that loads the run and plots it.

PyComex leaves one in each archive folder, so a user can come back months
later and start from a working script instead of a blank page. This one holds
nothing of the run but its name in a comment: it loads the folder it lies in
(through `load_run`, by its own location, so the archive can be moved, exported
or imported), prints the parameters and results and plots every tracked series
into `analysis_plots/` beside it. Nothing runs it but the user: it is not the
`analysis/` folder of @analysis functions, and `expharness analyze` never reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..archive import layout

SCRIPT = "analysis.py"
PLOTS = "analysis_plots"

TEMPLATE = '''\
"""Load this run, print its parameters and results, and plot its tracked series.

Written by pytest-expharness when the run ended; edit it freely. It loads the
folder it lies in, so it works wherever the folder is moved:

    python analysis.py           # prints, and writes analysis_plots/<series>.png
    python analysis.py --show    # shows the figures too
"""

import sys
from pathlib import Path

from pytest_expharness import load_run

# @IDENTITY@
HERE = Path(__file__).resolve().parent


def main() -> None:
    run = load_run(HERE)
    print(f"{run.experiment} {run.run_id}: {run.status}")
    for title, values in (("parameters", run.params), ("results", run.summary.get("results"))):
        print(f"{title}:")
        for name, value in (values or {}).items():
            print(f"  {name} = {value!r}")
    if not run.metrics:
        return
    import matplotlib.pyplot as plt

    show = "--show" in sys.argv
    for name, series in run.metrics.items():
        fig, ax = plt.subplots()
        ax.plot(series.steps, series, marker="." if len(series) < 50 else None)
        ax.set(title=name, xlabel="step")
        path = HERE / "@PLOTS@" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
        print(f"plot: {path.relative_to(HERE)}")
        if not show:
            plt.close(fig)
    if show:
        plt.show()


if __name__ == "__main__":
    main()
'''


def script_text(header: dict[str, Any]) -> str:
    """Return the analysis.py of a run, from its config.yaml header."""
    identity = " / ".join(str(header.get(k)) for k in ("name", "session", "run_id"))
    safe = repr(identity)[1:-1]  # one line of printable text whatever the names hold
    return TEMPLATE.replace("@IDENTITY@", f"run {safe}").replace("@PLOTS@", PLOTS)


def write(folder: Path, header: dict[str, Any]) -> None:
    """Write `<folder>/analysis.py` (atomically, like every file of a run)."""
    layout.atomic_write_text(folder / SCRIPT, script_text(header))
