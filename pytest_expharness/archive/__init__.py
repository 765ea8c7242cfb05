"""The on-disk format of a run folder: layout and names, atomic writes and locks, the codecs.

Owns what a file under the archive root holds (config.yaml text, JSON values,
metrics.csv, the journal, run.log lines, labels and notes) and how it is written
safely. Imports no other package of pytest_expharness: everything else builds on it.
"""
