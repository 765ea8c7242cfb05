"""series/ and metrics.csv as they are written: one series' sink, and the helper process.

sink.py turns points into .npy records, metrics.csv rows and a summary; helper.py is
the process that does it beside a big run while it runs; split.py is the run's side
(start the helper, share the rest at the end, join the parts).
"""
