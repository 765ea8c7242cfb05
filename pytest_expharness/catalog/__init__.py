"""The archive read back: run folders as records, whether a run is alive, the index, names.

Owns reading a run folder (and writing down a certain crash), the run record that
crosses process boundaries, index.sqlite, `load_run`/`Archive`, run names, process
identity, export/import and gc. Imports the archive and report only; knows nothing of pytest runs.
"""
