"""report.html: one self-contained page per sweep, with inline SVG charts and no network.

Imports the comparison table (sweep/table.py) and the layers below; within the
sweep only sweep/end.py imports it (and, above, the CLI's `report`).
"""
