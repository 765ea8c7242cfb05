"""The human-facing files of one run folder: REPORT.md, SVG plots and GIFs, its analysis.py.

Written from the run's own files, so a run that died can get them afterwards
(catalog/reading.py does). Imports only the archive; reports about many runs
(comparison tables, report.html) are the sweep's.
"""
